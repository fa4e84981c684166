/** How an `event` packet's array begins, after its namespace: `["event",`. */
const EVENT_ARRAY_HEAD = '["event",';
const QUOTE = 0x22;

/** The frame {@link stringEventPacket} parsed last with `keep`, and its packet, until the decoder takes them. */
let keptFrame: string | undefined;
let keptPacket: [string, string, ...unknown[]] | undefined;

/**
 * The packet's array (`['event', text, …]`) of an `event` frame that carries its event as a JSON string
 * (`2/_event,["event","{\"name\":…}"]`), or undefined for any other frame (an event sent as an object, as Reflex's
 * `state.js` sends it, is told by the character after `eventPrefix`; a frame that is not JSON is left to Socket.IO's
 * own parse, which refuses it).
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
export function stringEventPacket(frame: string, eventPrefix: string, keep: boolean): [string, string, ...unknown[]] | undefined {
  if (frame === keptFrame) {
    const packet = keptPacket;
    if (!keep) keptFrame = keptPacket = undefined;
    return packet;
  }
  if (frame.charCodeAt(eventPrefix.length) !== QUOTE) return undefined;
  let packet: unknown;
  try {
    packet = JSON.parse(frame.slice(eventPrefix.length - EVENT_ARRAY_HEAD.length));
  } catch {
    return undefined;
  }
  const found = Array.isArray(packet) && typeof packet[1] === 'string' ? (packet as [string, string, ...unknown[]]) : undefined;
  if (keep) {
    keptFrame = frame;
    keptPacket = found;
  }
  return found;
}
