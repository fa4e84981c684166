/** How long `eventually` waits by default: generous, for a loaded 2-core CI machine. */
export const DEFAULT_EVENTUALLY_TIMEOUT_MS = 15_000;

/**
 * Polls `read` until `check` holds and resolves with the value that passed; a `read` that throws (a page that is
 * navigating, a server not up yet) is read again. Past the deadline it fails naming `what` and the last value (or
 * error) seen, so a failure says what the test was waiting for. Tests wait on conditions, never on durations.
 */
export async function eventually<T>(what: string, read: () => Promise<T> | T, check: (value: T) => boolean, timeoutMs = DEFAULT_EVENTUALLY_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      lastError = undefined;
      if (check(last)) return last;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const seen = lastError === undefined ? JSON.stringify(last) : String(lastError);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${seen?.slice(0, 2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Polls `probe` until it answers something (not `undefined`, not `false`) and resolves with that answer: for waits
 * whose condition is "the thing exists" (an event in devtools' buffer, a log line). Fails naming `what`.
 */
export async function until<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
