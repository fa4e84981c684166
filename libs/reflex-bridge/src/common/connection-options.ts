import { MAX_TIMER_MS } from './timer-ms.js';

/** A connection URL without its password, for log lines and error messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable connection URL>';
  }
}

/** A positive number option of a backend (`owner`), or `fallback` when unset; throws naming the field. */
export function positiveOption(owner: string, name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${owner}: "${name}" must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * A positive millisecond option of a backend that feeds a timer: as {@link positiveOption}, and at most
 * {@link MAX_TIMER_MS} (Node runs a longer timer after 1 ms, so the timeout would expire at once).
 */
export function positiveTimerOption(owner: string, name: string, value: number | undefined, fallback: number): number {
  const ms = positiveOption(owner, name, value, fallback);
  if (ms > MAX_TIMER_MS) throw new TypeError(`${owner}: "${name}" must be at most ${MAX_TIMER_MS} ms (about 24.8 days: Node's timers fire at once beyond), got ${ms}`);
  return ms;
}

/**
 * Refuses an option `owner` does not know, naming it: a misspelt one (`publishTimeout` for `publishTimeoutMs`) would
 * otherwise be ignored and its default used without a word, as the module's own options refuse theirs. `path` names a
 * nested options object (`cluster.`), so the message names the option as the caller wrote it.
 */
export function knownOptions(owner: string, options: object, known: readonly string[], path = ''): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${owner}: ${path ? `"${path.slice(0, -1)}"` : 'the options'} must be an object, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new TypeError(`${owner}: unknown option "${path}${key}" (it takes ${known.map((name) => `"${path}${name}"`).join(', ')})`);
  }
}

/**
 * Refuses a first reconnection delay (`minName`) longer than the longest one (`maxName`): the backoff would start
 * past its own bound, so the bound silently won and the first delay given was never used. Says when `max` is the
 * default (`maxGiven` false), since the user then wrote only the first.
 */
export function orderedDelays(owner: string, minName: string, min: number, maxName: string, max: number, maxGiven: boolean): void {
  if (min > max) {
    throw new TypeError(`${owner}: "${minName}" (${min}) must be at most "${maxName}" (${max}${maxGiven ? '' : ', its default'}): the first reconnection delay cannot exceed the longest`);
  }
}
