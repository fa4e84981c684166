/** How an `event` packet's array begins, after its namespace: `["event",`. */
const EVENT_ARRAY_HEAD = '["event",';
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CLOSE_BRACKET = 0x5d;

/** The packet of an event sent as a JSON string, alone in it: `['event', text]`. */
export type StringEventPacket = [string, string];

/** The frame {@link stringEventPacket} parsed last with `keep`, and its answer, until the decoder takes them. */
let keptFrame: string | undefined;
let keptPacket: StringEventPacket | null | undefined;

/**
 * Whether the JSON string opening at `frame[start]` closes right before the frame's last character, a `]`: the
 * string is the packet's last item. One pass without allocation.
 */
function stringEndsPacket(frame: string, start: number): boolean {
  const last = frame.length - 1;
  if (frame.charCodeAt(last) !== CLOSE_BRACKET) return false;
  for (let index = start + 1; index < last; index += 1) {
    const code = frame.charCodeAt(index);
    if (code === BACKSLASH) index += 1;
    else if (code === QUOTE) return index === last - 1;
  }
  return false;
}

/**
 * The packet's array (`['event', text]`) of an `event` frame that carries its event as a JSON string, alone
 * (`2/_event,["event","{\"name\":…}"]`); `null` for an event sent as a JSON string with more items after it, which
 * is refused unparsed (no client sends one, and what follows the string would be parsed before any check); undefined
 * for any other frame (an event sent as an object, as Reflex's `state.js` sends it, is told by the character after
 * `eventPrefix`; a frame that is not JSON is left to Socket.IO's own parse, which refuses it).
 *
 * Why: Reflex's server JSON-parses an event that arrives as a string, and so does the pipeline (`parseInboundEvent`).
 * But every look at a frame before it is parsed (its nesting, objects and distinct key names, and the budget's charge
 * for those names) skips what is inside strings, so an event wrapped in one reached `JSON.parse` unchecked: frames of
 * 50,000 new key names, refused unparsed as objects, were parsed as strings, and 8 connections sending them held
 * another client's round trip for 3 s. The frame's text is read with one `JSON.parse` of a string, linear and cheap;
 * the event's text is then checked as a frame is.
 *
 * `keep`: the connection's budget looks first and keeps the answer for the decoder, which reads the same frame next and
 * takes it (one parse per frame); a call without `keep` takes a kept answer for `frame` or parses it.
 */
export function stringEventPacket(frame: string, eventPrefix: string, keep: boolean): StringEventPacket | null | undefined {
  if (frame === keptFrame) {
    const packet = keptPacket;
    if (!keep) keptFrame = keptPacket = undefined;
    return packet;
  }
  if (frame.charCodeAt(eventPrefix.length) !== QUOTE) return undefined;
  let found: StringEventPacket | null | undefined = null;
  // Only a lone string is parsed here: anything after it (any nesting, any number of objects) is not.
  if (stringEndsPacket(frame, eventPrefix.length)) {
    try {
      found = JSON.parse(frame.slice(eventPrefix.length - EVENT_ARRAY_HEAD.length)) as StringEventPacket;
    } catch {
      found = undefined;
    }
  }
  if (keep) {
    keptFrame = frame;
    keptPacket = found;
  }
  return found;
}
