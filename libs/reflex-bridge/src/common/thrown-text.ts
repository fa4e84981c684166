import { cutText, textOf } from './bounded-text.js';

/**
 * Texts of whatever a handler threw, for a log line and for the client, never throwing themselves: an object without
 * a prototype has no `toString` (`String(error)` throws), and a getter on `name`, `message` or `stack` may throw.
 * Each text is cut to a bound, as a copy: an error often quotes the input that caused it (a validation message
 * quoting a 300 kB field), which would otherwise be logged whole for every such event.
 */
export interface ThrownText {
  /** `name: message` (`Error` when there is no name), at most `maxMessageChars` characters and a note of the rest. */
  readonly summary: string;
  /** The stack (which starts with the summary) or the summary, at most `maxDetailChars` characters and a note. */
  readonly detail: string;
}

function read(error: unknown, key: 'name' | 'message' | 'stack'): unknown {
  try {
    return (error as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** The {@link ThrownText} of `error`. */
export function thrownText(error: unknown, maxMessageChars: number, maxDetailChars: number): ThrownText {
  const isObject = typeof error === 'object' && error !== null;
  const name = isObject ? read(error, 'name') : undefined;
  const message = isObject ? read(error, 'message') : error;
  const stack = isObject ? read(error, 'stack') : undefined;
  const whole = isObject && message === undefined ? textOf(error) : `${typeof name === 'string' ? name : 'Error'}: ${textOf(message)}`;
  return {
    summary: cutText(whole, maxMessageChars, true),
    detail: cutText(typeof stack === 'string' ? stack : whole, maxDetailChars, true),
  };
}
