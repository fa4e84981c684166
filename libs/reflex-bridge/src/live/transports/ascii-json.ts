const NON_ASCII = /[\u0080-\uffff]/g;

/**
 * `json` (JSON text) with every character outside ASCII written as a `\uXXXX` escape (surrogate pairs as two), which
 * any JSON parser reads back as the same value.
 *
 * Postgres converts a NOTIFY payload to the database's encoding: on a LATIN1 (or other non-UTF-8) database a
 * character that encoding lacks (CJK, emoji) fails the NOTIFY, and the 8000-byte limit is counted in that encoding,
 * not in the UTF-8 the transport measured. ASCII is the same in every server encoding, so an ASCII payload goes
 * through any database unchanged and its length in bytes is exact. Outside strings JSON is ASCII already, so each
 * non-ASCII character is inside a string, where an escape means the same character.
 */
export function asciiJson(json: string): string {
  return json.replace(NON_ASCII, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
