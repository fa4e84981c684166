import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Encoder } from 'socket.io-parser';
import type { BridgeError } from '../protocol/bridge-error.js';
import { CHARS_PER_BUDGET_UNIT, ConnectionLimits, connectionLimitSettings } from './connection-limits.js';
import { COOKIES_PER_BUDGET_UNIT, cookieBudgetUnits } from './cookie-budget-units.js';
import { guardedSocketIoParser } from './guarded-socket-io.parser.js';
import { UnparsedEvent } from '../protocol/unparsed-event.js';

/** The data of the Engine.IO `message` packet a Socket.IO client sends for `socket.emit(name, body)`. */
function engineMessageData(namespace: string, name: string, body: unknown): string {
  const [encoded] = new Encoder().encode({ type: 2, nsp: namespace, data: [name, body] });
  return encoded as string;
}

/** A connection that records what its limits did. */
class RecordingConnection extends ConnectionLimits {
  readonly reported: string[] = [];
  readonly charged: number[] = [];
  exceeded: number[] = [];
  constructor(maxMessageBytes = 1_000_000, maxOutboundBytes = 1_000_000, eventSurcharge = 0) {
    super(connectionLimitSettings('/_event', maxMessageBytes, maxOutboundBytes), eventSurcharge);
  }
  report(error: BridgeError): void {
    this.reported.push(error.code);
  }
  chargeBudget(units: number): void {
    this.charged.push(units);
  }
  /** What the budget answers for the next event (0: it would let it through). */
  refusedForMs = 0;
  nextEventRefusedForMs(): number {
    return this.refusedForMs;
  }
  outputExceeded(pendingBytes: number): void {
    this.exceeded.push(pendingBytes);
  }
  otherMessages = 0;
  otherMessage(): void {
    this.otherMessages += 1;
  }
}

describe('ConnectionLimits', () => {
  it('hands each event the size of its own frame, in arrival order', () => {
    const connection = new RecordingConnection();
    const small = engineMessageData('/_event', 'event', { name: 'a.b', payload: {} });
    const large = engineMessageData('/_event', 'event', { name: 'a.b', payload: { text: 'x'.repeat(5000) } });
    connection.inspectFrame(small);
    connection.inspectFrame(large);
    connection.inspectFrame(small);
    expect(connection.pendingFrameSizes).toBe(3);
    expect([connection.takeFrameSize(), connection.takeFrameSize(), connection.takeFrameSize()]).toEqual([small.length, large.length, small.length]);
  });

  it('keeps the order when sizes are taken while others arrive', () => {
    const connection = new RecordingConnection();
    const frames = [1, 2, 3, 4].map((n) => engineMessageData('/_event', 'event', { name: 'a.b', payload: { text: 'x'.repeat(n * 10) } }));
    connection.inspectFrame(frames[0]);
    expect(connection.takeFrameSize()).toBe(frames[0]!.length);
    connection.inspectFrame(frames[1]);
    connection.inspectFrame(frames[2]);
    expect(connection.takeFrameSize()).toBe(frames[1]!.length);
    connection.inspectFrame(frames[3]);
    expect([connection.takeFrameSize(), connection.takeFrameSize(), connection.pendingFrameSizes, connection.takeFrameSize()]).toEqual([
      frames[2]!.length,
      frames[3]!.length,
      0,
      1_000_000,
    ]);
  });

  it('records no size for other packets and namespaces, and charges an event it did not see the largest size', () => {
    const connection = new RecordingConnection();
    connection.inspectFrame(engineMessageData('/_event', 'client_error', { message: 'x' }));
    connection.inspectFrame(engineMessageData('/', 'event', { name: 'a.b' }));
    expect(connection.pendingFrameSizes).toBe(0);
    expect(connection.takeFrameSize()).toBe(1_000_000);
  });

  it('records the size of every frame Socket.IO delivers as an event, and of no other, whatever a client writes', () => {
    // The oracle is the decoder Socket.IO runs: a size is recorded for a frame exactly when it delivers an `event` for
    // it (Socket.IO's `event` listener takes each event's size, in order), so no event takes another one's size.
    const { Decoder } = guardedSocketIoParser({ namespace: '/_event', maxMessageBytes: 1_000_000, maxPendingBinaryBytes: 64_000_000 });
    const prefix = '2/_event,["event",';
    const body = '{"name":"a.b","payload":{"k":1}}';
    const spaces = fc.constantFrom('', ' ', '\n', '\t', '\r', '\u00a0', '\u2028');
    const eventName = fc.constantFrom('"event"', '"\\u0065vent"', '"ev\\u0065nt"', '"\\u0065\\u0076\\u0065\\u006e\\u0074"', '"event\\u0000"', '"Event"', '"client_error"', '"ping"', '"events"', '"ev"');
    // What a hand-written client may put around the name: an acknowledgement id, whitespace, escapes, other names.
    const written = fc
      .tuple(fc.constantFrom('2/_event,', '2/_event', '2/,', '3/_event,', '2/_eventx,'), fc.option(fc.nat(999), { nil: undefined }), spaces, spaces, eventName, spaces, fc.constantFrom(`,${body}]`, ']', `,"x"]`, ` ${body}]`, `,${body}`))
      .map(([head, id, before, inside, name, after, rest]) => `${head}${before}${id ?? ''}[${inside}${name}${after}${rest}`);
    // Near misses of the exact prefix (cut short, one character changed), as well as any text.
    const nearMiss = fc.tuple(fc.nat(prefix.length), fc.string({ maxLength: 1 })).map(([at, char]) => prefix.slice(0, at) + char + prefix.slice(at + 1) + body + ']');
    const frame = fc.oneof(fc.constant(prefix + body + ']'), written, nearMiss, fc.string({ maxLength: 40 }));
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 12 }), (frames) => {
        const connection = new RecordingConnection();
        const decoder = new Decoder();
        decoder.add('0/_event,');
        const taken: number[] = [];
        decoder.on('decoded', (packet: { type: number; data?: unknown[] }) => {
          if (packet.type === 2 && packet.data?.[0] === 'event') taken.push(connection.takeFrameSize());
        });
        for (const text of frames) {
          const before = taken.length;
          connection.inspectFrame(text);
          try {
            decoder.add(text);
          } catch {
            return; // Socket.IO closes the connection: nothing after counts.
          }
          if (taken.length > before) expect([taken.length - before, taken.at(-1)]).toEqual([1, text.length]);
          expect(connection.pendingFrameSizes).toBe(0);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('counts an event written otherwise than Socket.IO clients write it as an event, and has it refused unparsed', () => {
    const { Decoder } = guardedSocketIoParser({ namespace: '/_event', maxMessageBytes: 1_000_000, maxPendingBinaryBytes: 64_000_000 });
    const decoder = new Decoder();
    decoder.add('0/_event,');
    const decoded: unknown[] = [];
    decoder.on('decoded', (packet) => void decoded.push((packet.data as unknown[])[1]));
    const names = JSON.stringify(Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`n${i}`, 0])));
    const connection = new RecordingConnection(1_000_000, 1_000_000, 2);
    for (const variant of [`2/_event,7["event",${names}]`, `2/_event,["\\u0065vent",${names}]`, `2/_event,[\n"event",${names}]`]) {
      connection.inspectFrame(variant);
      decoder.add(variant);
    }
    // The event's surcharge and the size's units, as an event pays; not the unit of a message of another name.
    expect(connection.charged).toEqual(new Array(3).fill(2 + Math.floor((names.length + 20) / CHARS_PER_BUDGET_UNIT)));
    expect(connection.otherMessages).toBe(0);
    expect(decoded.map((event) => (event as UnparsedEvent).error?.code)).toEqual(['invalid_event', 'invalid_event', 'invalid_event']);
  });

  it('charges the key names of an event sent as a JSON string, as those of an event sent as an object', () => {
    const event = { name: 'a.b', payload: { value: Array.from({ length: 999 }, (_, j) => Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`n${j}_${i}`, 0]))) } };
    const asObject = engineMessageData('/_event', 'event', event);
    const asString = engineMessageData('/_event', 'event', JSON.stringify(event));
    const connection = new RecordingConnection();
    connection.inspectFrame(asObject);
    connection.inspectFrame(asString);
    // 9,990 names and the envelope's three: 99 units beyond the size's, for both forms.
    expect(connection.charged).toEqual([Math.floor(asObject.length / CHARS_PER_BUDGET_UNIT) + 99, Math.floor(asString.length / CHARS_PER_BUDGET_UNIT) + 99]);
  });

  it('charges any other message over a kilobyte for its distinct key names as an event, and has it dropped unparsed past the budget', () => {
    const { Decoder } = guardedSocketIoParser({ namespace: '/_event', maxMessageBytes: 1_000_000, maxPendingBinaryBytes: 64_000_000 });
    const decoder = new Decoder();
    decoder.add('0/_event,');
    const decoded: unknown[] = [];
    decoder.on('decoded', (packet) => void decoded.push((packet.data as unknown[])[0]));
    const names = Object.fromEntries(Array.from({ length: 990 }, (_, i) => [`n${i}`, 0]));
    const report = engineMessageData('/_event', 'client_error', { message: 'x', names });
    const other = engineMessageData('/_event', 'anything', names);
    const connection = new RecordingConnection();
    for (const frame of [report, other]) {
      connection.inspectFrame(frame);
      decoder.add(frame);
    }
    // Its size's units, the message's one, and one per 100 distinct names, as an event pays them.
    expect(connection.charged).toEqual([report, other].map((frame) => Math.floor(frame.length / CHARS_PER_BUDGET_UNIT) + 1 + 9));
    expect(decoded).toEqual(['client_error', 'anything']);
    // Past the budget neither is parsed: both are dropped, and a small message still goes through.
    connection.refusedForMs = 1_000;
    for (const frame of [report, other, engineMessageData('/_event', 'ping', undefined)]) {
      connection.inspectFrame(frame);
      decoder.add(frame);
    }
    expect(decoded).toEqual(['client_error', 'anything', 'ping']);
  });

  it('tells the client of a text frame over the limit, records no size for it, and charges it', () => {
    const connection = new RecordingConnection(1000);
    const large = engineMessageData('/_event', 'event', { name: 'a.b', payload: { text: 'x'.repeat(2000) } });
    const small = engineMessageData('/_event', 'event', { name: 'a.b', payload: {} });
    connection.inspectFrame(large);
    connection.inspectFrame(small);
    expect(connection.reported).toEqual(['payload_too_large']);
    expect(connection.pendingFrameSizes).toBe(1);
    expect(connection.charged).toEqual([1]);
  });

  it('charges every message but an event once, and any message once more per further unit of its size', () => {
    const connection = new RecordingConnection();
    const event = (chars: number) => engineMessageData('/_event', 'event', { name: 'a.b', payload: { text: 'x'.repeat(chars) } });
    connection.inspectFrame(event(100));
    expect(connection.charged).toEqual([]);
    connection.inspectFrame(engineMessageData('/_event', 'ping', undefined));
    connection.inspectFrame(engineMessageData('/_event', 'anything', 'x'.repeat(3 * CHARS_PER_BUDGET_UNIT)));
    const large = event(5 * CHARS_PER_BUDGET_UNIT);
    connection.inspectFrame(large);
    connection.inspectFrame(Buffer.alloc(100_000));
    expect(connection.charged).toEqual([1, 4, Math.floor(large.length / CHARS_PER_BUDGET_UNIT), Math.floor(100_000 / CHARS_PER_BUDGET_UNIT)]);
  });

  it("charges an event once more per 100 distinct key names it carries, beyond its size's units", () => {
    // V8 parses a key name no earlier object had many times slower than plain values of its size (a hidden class
    // each): 10,000 of them in 140 kB took about 45 ms, charged 17 units by size alone.
    const connection = new RecordingConnection();
    const names = engineMessageData('/_event', 'event', { name: 'a.b', payload: { value: Array.from({ length: 999 }, (_, j) => Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`n${j}_${i}`, 0]))) } });
    const table = engineMessageData('/_event', 'event', { name: 'a.b', payload: { value: Array.from({ length: 999 }, (_, j) => Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`n_${i}`, j]))) } });
    connection.inspectFrame(names);
    connection.inspectFrame(table);
    // 9,990 names and the envelope's three (name, payload, value): 99 units more; ten names repeated: none.
    expect(connection.charged).toEqual([Math.floor(names.length / CHARS_PER_BUDGET_UNIT) + 99, Math.floor(table.length / CHARS_PER_BUDGET_UNIT)]);
  });

  it('hands an event frame over a kilobyte on unparsed, answered rate_limited, while the budget would refuse the next event', () => {
    // Past its budget a socket is read once a second (for its heartbeat), and each read frame was parsed only to be
    // refused: 64 connections sending megabyte frames held another client's round trip for 1.6 s (median).
    const { Decoder } = guardedSocketIoParser({ namespace: '/_event', maxMessageBytes: 1_000_000, maxPendingBinaryBytes: 64_000_000 });
    const decoder = new Decoder();
    const decoded: unknown[] = [];
    decoder.add('0/_event,');
    decoder.on('decoded', (packet) => void decoded.push((packet.data as unknown[])[1]));
    const connection = new RecordingConnection();
    const large = engineMessageData('/_event', 'event', { name: 'a.b', payload: { value: Array.from({ length: 999 }, (_, j) => ({ [`n${j}`]: j })) } });
    const small = engineMessageData('/_event', 'event', { name: 'a.b', payload: {} });
    // Not valid JSON: parsed, it would close the connection.
    const broken = `${large.slice(0, -3)}`;
    connection.refusedForMs = 4_200;
    for (const frame of [large, broken, small]) {
      connection.inspectFrame(frame);
      decoder.add(frame);
    }
    expect(decoded).toHaveLength(3);
    for (const refused of decoded.slice(0, 2)) {
      expect(refused).toBeInstanceOf(UnparsedEvent);
      expect((refused as UnparsedEvent).error.toPayload()).toEqual({ code: 'rate_limited', message: 'Too many events; try again in 5 s.', retryAfterMs: 4_200 });
    }
    // A frame of up to a kilobyte is parsed (its refusal names its event), and charged as before: its size, no names.
    expect(decoded[2]).toEqual({ name: 'a.b', payload: {} });
    expect(connection.charged).toEqual([Math.floor(large.length / CHARS_PER_BUDGET_UNIT), Math.floor(broken.length / CHARS_PER_BUDGET_UNIT)]);
    // Within its budget, the same frame is parsed.
    connection.refusedForMs = 0;
    connection.inspectFrame(large);
    decoder.add(large);
    expect((decoded[3] as { payload: unknown }).payload).toEqual(JSON.parse(large.slice('2/_event,'.length))[1].payload);
  });

  it('charges a binary attachment by its size as it charges text, and a small one nothing (its packet was charged)', () => {
    // An attachment was charged nothing: a client sent 255 MB in 8 s as binary packets of 990 kB where the same
    // budget let 16 MB of text frames through, and another client's 90th-percentile round trip went from 1-2 ms to 24-52 ms.
    fc.assert(
      fc.property(fc.nat(3 * 1_000_000), fc.boolean(), (bytes, asArrayBuffer) => {
        const connection = new RecordingConnection();
        const attachment = Buffer.alloc(bytes);
        connection.inspectFrame(asArrayBuffer ? attachment.buffer.slice(attachment.byteOffset, attachment.byteOffset + bytes) : attachment);
        const units = Math.floor(bytes / CHARS_PER_BUDGET_UNIT);
        expect(connection.charged).toEqual(units === 0 ? [] : [units]);
        expect(connection.reported).toEqual([]);
        expect(connection.pendingFrameSizes).toBe(0);
      }),
      { numRuns: 50 },
    );
  });

  it("counts what waits in Engine.IO's queue and the WebSocket's buffer, and says once when too much waits", () => {
    const connection = new RecordingConnection(1000, 100);
    // Queued behind nothing: each counts alone.
    connection.countOutput('x'.repeat(60), 0, 0);
    connection.countOutput('x'.repeat(60), 0, 0);
    expect(connection.pendingOutputBytes).toBe(60);
    // Queued behind the first: together 110, over the limit.
    connection.countOutput(Buffer.alloc(50), 1, 0);
    connection.countOutput('x', 2, 0);
    connection.countOutput(undefined, 3, 0);
    expect(connection.exceeded).toEqual([110]);
    expect(connection.pendingOutputBytes).toBe(111);
    // What the WebSocket still holds counts too.
    const other = new RecordingConnection(1000, 100);
    other.countOutput('x'.repeat(10), 0, 95);
    expect(other.exceeded).toEqual([105]);
  });
});

describe('ConnectionLimits with a cookie surcharge', () => {
  /** A connection whose handshake presented `cookieHeader`. */
  class CookieConnection extends RecordingConnection {
    constructor(cookieHeader: string) {
      super(undefined, undefined, cookieBudgetUnits(cookieHeader));
    }
  }

  it('charges each event of a connection with thousands of cookies what their parsing costs; ordinary ones nothing', () => {
    const event = engineMessageData('/_event', 'event', { name: 'a.b', payload: {} });
    // What a client fits in Node's 16 KiB header limit: about 2,700 one-letter cookies.
    const stuffed = new CookieConnection(Array.from({ length: 2_700 }, (_, i) => `${i.toString(36)}=1`).join('; '));
    stuffed.inspectFrame(event);
    expect(stuffed.charged).toEqual([10]);
    const ordinary = new CookieConnection(`shop.sid=s%3A${'a'.repeat(80)}; ${Array.from({ length: 60 }, (_, i) => `_ga${i}=GA1.2.${'9'.repeat(40)}`).join('; ')}`);
    ordinary.inspectFrame(event);
    expect(ordinary.charged).toEqual([]);
  });

  it('counts cookies as the parser splits them, for any header', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 3_000 }), (header) => {
        const cookies = header.split(';').length;
        expect(cookieBudgetUnits(header)).toBe(header.length < COOKIES_PER_BUDGET_UNIT ? 0 : Math.floor(cookies / COOKIES_PER_BUDGET_UNIT));
      }),
    );
    expect(cookieBudgetUnits(';'.repeat(499))).toBe(2);
    expect(cookieBudgetUnits(undefined)).toBe(0);
  });
});
