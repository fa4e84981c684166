/** `value` as text, never throwing: strings as they are, else `String()` when that works, else its tag (`[object Object]`: an object without a prototype has no `toString`). */
export function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * `text` cut to `max` characters and marked `…` (with `noteDropped`, also how many characters were dropped), as a
 * flat copy: V8 keeps a slice of a long string as a view of the whole, so a kept 1,000-character slice of a client's
 * 300 kB value held all 300 kB for as long as the slice lived.
 */
export function cutText(text: string, max: number, noteDropped = false): string {
  if (text.length <= max) return text;
  const kept = Buffer.from(text.slice(0, max), 'utf16le').toString('utf16le');
  return noteDropped ? `${kept}… (${text.length - max} more characters)` : `${kept}…`;
}
