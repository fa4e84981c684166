import { cutText, textOf } from './bounded-text.js';
import { escapeControls } from './log-text.js';

/**
 * Texts of whatever a handler threw, for a log line and for the client, never throwing themselves: an object without
 * a prototype has no `toString` (`String(error)` throws), and a getter on `name`, `message` or `stack` may throw.
 * Each text is cut to a bound, as a copy: an error often quotes the input that caused it (a validation message
 * quoting a 300 kB field), which would otherwise be logged whole for every such event.
 */
export interface ThrownText {
  /** `name: message` (`Error` when there is no name), at most `maxMessageChars` characters and a note of the rest. */
  readonly summary: string;
  /**
   * For the log: the stack (which starts with the summary) or the summary, at most `maxDetailChars` characters and a
   * note, with control characters escaped except the line break before each `    at` frame: a message quoting a
   * client's `\n[Nest] … LOG [Auth] admin logged in` otherwise printed that as a line of its own.
   */
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
    // Cut before escaping (the work stays bounded), and again after: an escape takes up to six characters.
    detail: cutText(logSafe(cutText(typeof stack === 'string' ? stack : whole, maxDetailChars, true), typeof stack === 'string' && stack.startsWith(whole) ? whole.length : 0), maxDetailChars, true),
  };
}

/** A V8 stack frame's line break: the only one kept in a logged stack. */
const FRAME_BREAK = '\n    at ';

/**
 * `text` with its control characters escaped, but for the frame breaks after its first `headerChars` characters
 * (V8's `name: message`, which may quote anything: escaped whole, so a message cannot pass off a line as a frame).
 */
function logSafe(text: string, headerChars: number): string {
  const header = escapeControls(text.slice(0, headerChars));
  return header + text.slice(headerChars).split(FRAME_BREAK).map(escapeControls).join(FRAME_BREAK);
}
