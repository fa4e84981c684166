/** Socket.IO packet types, as a text frame's first character. */
const EVENT = 0x32; // '2'
const BINARY_EVENT = 0x35; // '5'
const DASH = 0x2d;
const SLASH = 0x2f;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const QUOTE = 0x22;
const CLOSE_BRACKET = 0x5d;
const BACKSLASH = 0x5c;

/** A character JavaScript's `Number()` reads as nothing (so `Number(c) == c`): its whitespace and line terminators. */
const WHITESPACE = /\s/;

/** Event names longer than this, written with escapes, are not decoded: `"event"` escaped whole is 30 characters. */
const MAX_ESCAPED_NAME_CHARS = 64;

/** Whether `code` is JSON whitespace. */
function isJsonSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/**
 * Whether `frame`, a Socket.IO text packet that does **not** start the way Socket.IO clients write an `event`
 * (`2<namespace>,["event",`), is nevertheless one that Socket.IO decodes and delivers as an `event` of `namespace`:
 * `'text'` for an EVENT packet written otherwise (an acknowledgement id, `42/_event,7["event",…`; whitespace, `[
 * "event"`; the name escaped, `["\u0065vent"`), `'binary'` for a BINARY_EVENT packet named `event` (its attachments
 * follow), `undefined` for anything else (another name, another packet type, another namespace).
 *
 * Why: the connection's budget and the frame-size queue recognise events by that exact beginning, which costs one
 * comparison per frame; a frame written otherwise was charged as a message of another name (no key-name surcharge,
 * parsed even past the budget) and took a later event's recorded size. Reflex's `state.js` and
 * `@reflex-bridge/client` write every event the exact way; the other forms come only from hand-written clients.
 * Reads the packet head as socket.io-parser does (type, attachment count, namespace, acknowledgement id), then the
 * first array item; only a name of up to {@link MAX_ESCAPED_NAME_CHARS} characters written with escapes is decoded.
 */
export function eventFrameVariant(frame: string, namespace: string): 'text' | 'binary' | undefined {
  const type = frame.charCodeAt(0);
  if (type !== EVENT && type !== BINARY_EVENT) return undefined;
  let index = 1;
  if (type === BINARY_EVENT) {
    while (index < frame.length && frame.charCodeAt(index) !== DASH) index += 1;
    index += 1;
  }
  if (frame.charCodeAt(index) !== SLASH || !frame.startsWith(namespace, index) || frame.charCodeAt(index + namespace.length) !== COMMA) return undefined;
  index += namespace.length + 1;
  // The acknowledgement id: socket.io-parser takes every character `c` with `Number(c) == c`, digits and any
  // whitespace JavaScript knows (which `\s` matches).
  while (index < frame.length && (isDigit(frame.charCodeAt(index)) || WHITESPACE.test(frame[index]!))) index += 1;
  if (frame.charCodeAt(index) !== OPEN_BRACKET) return undefined;
  index += 1;
  while (isJsonSpace(frame.charCodeAt(index))) index += 1;
  if (frame.charCodeAt(index) !== QUOTE) return undefined;
  const end = closingQuote(frame, index);
  if (end < 0 || nameAt(frame, index, end) !== 'event') return undefined;
  // The array goes on (`,`) or ends (`]`, an event with no argument): anything else is no JSON Socket.IO would read.
  index = end + 1;
  while (isJsonSpace(frame.charCodeAt(index))) index += 1;
  const next = frame.charCodeAt(index);
  if (next !== COMMA && next !== CLOSE_BRACKET) return undefined;
  return type === EVENT ? 'text' : 'binary';
}

/** Where the JSON string opened at `frame[start]` closes, or -1 past {@link MAX_ESCAPED_NAME_CHARS}. */
function closingQuote(frame: string, start: number): number {
  const limit = Math.min(frame.length, start + MAX_ESCAPED_NAME_CHARS);
  for (let index = start + 1; index < limit; index += 1) {
    const code = frame.charCodeAt(index);
    if (code === BACKSLASH) index += 1;
    else if (code === QUOTE) return index;
  }
  return -1;
}

/** The JSON string `frame[start..end]` (both quotes) decoded, or undefined when malformed. */
function nameAt(frame: string, start: number, end: number): string | undefined {
  const token = frame.slice(start, end + 1);
  if (!token.includes('\\')) return token.slice(1, -1);
  try {
    return JSON.parse(token) as string;
  } catch {
    return undefined;
  }
}
