/**
 * A log-safe text for a value a browser sent: never calls a conversion the sender controls (an object's
 * `toString` may be anything, even a throwing getter), cut to `max` characters with a note of how many were
 * dropped, and control characters escaped (`\n` shows as `\\n`) so a report cannot forge log lines.
 */
export function logText(value: unknown, max: number): string {
  let text: string;
  let dropped = 0;
  if (typeof value === 'string') {
    dropped = Math.max(0, value.length - max);
    text = dropped > 0 ? value.slice(0, max) : value;
  } else if (typeof value === 'number' || typeof value === 'boolean') text = `${value}`;
  else if (value === undefined || value === null) text = '';
  else text = `(${Array.isArray(value) ? 'array' : typeof value})`;
  const safe = escapeControls(text);
  return dropped > 0 ? `${safe}… (${dropped} more characters)` : safe;
}

/**
 * Control characters that end a log line or drive a terminal: C0 (`\n`, `\r`, ESC), DEL, C1 (NEL `\u0085` is a
 * line break to some log tools, CSI `\u009b` an escape to some terminals) and the Unicode line/paragraph separators.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** `text` with every control character written as an escape (`\n` as `\\n`, ESC as `\\u001b`): one log line, inert. */
export function escapeControls(text: string): string {
  return text.replace(CONTROL, (char) => (char === '\n' ? '\\n' : char === '\t' ? '\\t' : `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/**
 * An own data property of a value a browser sent, read without running anything the sender controls: no getter,
 * no proxy trap beyond the descriptor lookup, nothing from the prototype chain. `undefined` when it is not one.
 */
export function ownValue(source: unknown, key: string): unknown {
  if (source === null || typeof source !== 'object' || Array.isArray(source)) return undefined;
  let descriptor: PropertyDescriptor | undefined;
  try {
    descriptor = Object.getOwnPropertyDescriptor(source, key);
  } catch {
    return undefined;
  }
  return descriptor && 'value' in descriptor ? descriptor.value : undefined;
}
