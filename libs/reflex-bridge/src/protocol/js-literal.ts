/**
 * Data written into JavaScript source that a Reflex client evaluates (`_call_function`, `_call_script`).
 *
 * The text of a message, a URL or a secret may come from anyone (an exception message, a user's input echoed in
 * an error), and `state.js` runs the source with `eval`, so nothing in the data may end the literal it sits in.
 * JSON's string grammar is a subset of JavaScript's, and these escapes close the remaining gaps:
 * - `<` as `\u003c`, so `</script>` or `<!--` never appears when the source is also embedded in an HTML page;
 * - U+2028 and U+2029 as escapes: line terminators in older JavaScript engines (and in every engine when the
 *   literal ends up in a comment or a regular expression);
 * - lone surrogates are already escaped by `JSON.stringify` (well-formed since ES2019).
 */

const UNSAFE = /[<\u2028\u2029]/g;

function escapeUnsafe(character: string): string {
  return `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * A JavaScript string literal (double quotes) whose value is exactly `text`, safe to place anywhere an
 * expression may stand in evaluated source or in an inline `<script>`.
 * @publicApi
 */
export function jsString(text: string): string {
  return JSON.stringify(String(text)).replace(UNSAFE, escapeUnsafe);
}

/**
 * A JavaScript expression that evaluates to a copy of `value` (any JSON-serialisable data): `JSON.parse("…")`
 * of its JSON text. Parsing, rather than writing an object literal, keeps keys such as `__proto__` plain
 * properties, as they were in the data, instead of setting the object's prototype.
 * @publicApi
 */
export function jsValue(value: unknown): string {
  if (typeof value === 'string') return jsString(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) {
    return Number.isFinite(value) || typeof value !== 'number' ? JSON.stringify(value) : 'null';
  }
  const json = JSON.stringify(value);
  if (json === undefined) return 'undefined';
  return `JSON.parse(${jsString(json)})`;
}
