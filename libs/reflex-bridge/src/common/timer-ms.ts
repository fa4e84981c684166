import { InvalidOptionError } from '../invalid-option.error.js';

/**
 * The longest delay Node's timers honour (2^31 − 1 ms, about 24.8 days). A longer one makes `setTimeout` and
 * `setInterval` fire after 1 ms (with only a process warning): a timeout option set beyond it would time out at once.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Refuses a millisecond option that feeds a timer and is longer than {@link MAX_TIMER_MS}; `value` has already been
 * checked to be a number.
 * @throws InvalidOptionError naming the option.
 */
export function assertTimerMs(name: string, value: number): void {
  if (value > MAX_TIMER_MS) {
    throw new InvalidOptionError(name, `expected at most ${MAX_TIMER_MS} ms (about 24.8 days: Node's timers fire at once beyond), got ${value}`);
  }
}
