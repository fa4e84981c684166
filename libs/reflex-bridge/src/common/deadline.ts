/** The rejection of {@link withinDeadline} when the time ran out (compare with `===`). */
export const DEADLINE_PASSED = new Error('timed out');

const ignore = () => undefined;

/**
 * `promise`, or a rejection with {@link DEADLINE_PASSED} after `ms` milliseconds. A late rejection of `promise`
 * is ignored (it never becomes an unhandled rejection), and the timer never outlives the race.
 */
export function withinDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  promise.catch(ignore);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(DEADLINE_PASSED), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
