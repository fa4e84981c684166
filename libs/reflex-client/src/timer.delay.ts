/** The longest delay `setTimeout` honours (2^31 - 1 ms, about 24.8 days): a longer one, `Infinity` included, fires after 1 ms. */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/**
 * Starts a timeout, or none when `ms` is longer than a timer can wait: such a timeout (an `Infinity` meant as "wait
 * forever") is never reached, where `setTimeout` would fire it at once.
 * @returns The timer, or `undefined` when none was started.
 */
export function startTimeout(callback: () => void, ms: number): ReturnType<typeof setTimeout> | undefined {
  return ms > MAX_TIMER_DELAY_MS ? undefined : setTimeout(callback, ms);
}
