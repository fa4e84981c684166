import { InvalidOptionError } from '../invalid-option.error.js';

const EXPECTED = 'expected a URL such as redis://localhost:6379';

/**
 * Refuses a Redis URL option that is set but is not a `redis://` or `rediss://` URL, saying what was given without
 * repeating the value itself (a URL may hold a password, and the error is logged). An empty string gets its own
 * message: it is what an environment variable left empty in a `.env` file reads as, where the app meant "unset".
 * @throws InvalidOptionError naming the option.
 */
export function assertRedisUrl(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'string') throw new InvalidOptionError(name, `${EXPECTED}, got ${value === null ? 'null' : typeof value}`);
  if (value === '') {
    throw new InvalidOptionError(name, `${EXPECTED}, got "" (an empty string, as an empty environment variable reads): leave it undefined to keep everything in memory`);
  }
  if (!/^rediss?:\/\//.test(value)) throw new InvalidOptionError(name, `${EXPECTED} (redis:// or rediss://), got a value that does not start with either (not repeated: it may hold a password)`);
}
