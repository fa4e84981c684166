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
