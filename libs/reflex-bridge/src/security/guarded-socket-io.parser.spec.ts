import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Decoder, Encoder } from 'socket.io-parser';
import { UnparsedEvent } from '../protocol/unparsed-event.js';
import {
  BYTES_PER_FRAME_CONTAINER, BYTES_PER_FRAME_KEY_NAME, frameShapeLimits, guardedSocketIoParser, isForNamespace, keyNamesInLastScan, MAX_FRAME_DEPTH, MAX_JOIN_FRAME_CHARS,
  nestsDeeperThan, RefusedFrameError, scanFrame, valuesInLastScan,
} from './guarded-socket-io.parser.js';

const { Decoder: GuardedDecoder } = guardedSocketIoParser({ namespace: '/_event', maxMessageBytes: 10_000, maxPendingBinaryBytes: 1_000_000 });

/** What a decoder emits for `frames` (the packets), or the error it threw. */
function decode(decoder: Decoder, frames: unknown[]): { packets: unknown[]; error?: unknown } {
  const packets: unknown[] = [];
  decoder.on('decoded', (packet: unknown) => packets.push(packet));
  try {
    for (const frame of frames) decoder.add(frame);
  } catch (error) {
    return { packets, error };
  }
  return { packets };
}

/** How deep `value` nests arrays and objects (a scalar: 0). */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((deepest, child) => Math.max(deepest, depthOf(child)), 0);
}

/** How many arrays and objects `value` holds, itself included. */
function containersIn(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((sum, child) => sum + containersIn(child), 0);
}

/** How many keys and array items `value` holds, as the event validation counts them. */
function valuesIn(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return children.length + children.reduce<number>((sum, child) => sum + valuesIn(child), 0);
}

/** The distinct key names of every object in `value`. */
function keyNamesIn(value: unknown, names = new Set<string>()): Set<string> {
  if (value === null || typeof value !== 'object') return names;
  if (!Array.isArray(value)) for (const key of Object.keys(value)) names.add(key);
  for (const child of Array.isArray(value) ? value : Object.values(value)) keyNamesIn(child, names);
  return names;
}

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('guardedSocketIoParser', () => {
  it('decodes what Socket.IO clients send to the namespace exactly as Socket.IO does', () => {
    const packet = fc.record({
      type: fc.constantFrom(0, 1, 2, 3),
      id: fc.option(fc.nat(), { nil: undefined }),
      data: fc.array(fc.jsonValue({ maxDepth: 4 }), { minLength: 1, maxLength: 3 }),
    });
    fc.assert(
      fc.property(packet, ({ type, id, data }) => {
        const body = type === 0 ? { token: 'x' } : type === 1 ? undefined : ['event', ...data];
        const [frame] = new Encoder().encode({ type, nsp: '/_event', id: type >= 2 ? id : undefined, data: body });
        const expected = decode(new Decoder(), [frame]);
        expect(decode(new GuardedDecoder(), [frame])).toEqual(expected);
      }),
    );
  });

  it('reads the namespace of any text as socket.io-parser does', () => {
    const prefix = fc.constantFrom('0', '2', '3', '51-', '62-', '5-', '5x', '4');
    const nsp = fc.oneof(fc.constantFrom('/_event,', '/_event', '/_events,', '/_even,', '/', '/_event/x,'), fc.string({ maxLength: 12 }));
    const text = fc.tuple(prefix, nsp, fc.string({ maxLength: 20 }));
    fc.assert(
      fc.property(text, ([head, nsp, tail]) => {
        const frame = head + nsp + tail;
        let expected: string | undefined;
        try {
          expected = (new Decoder() as unknown as { decodeString(text: string): { nsp: string } }).decodeString(frame).nsp;
        } catch {
          expected = undefined; // a frame socket.io-parser refuses anyway
        }
        if (expected !== undefined) expect(isForNamespace(frame, '/_event')).toBe(expected === '/_event');
      }),
    );
  });

  it('closes a connection that names another namespace, the default one included', () => {
    for (const frame of ['0', '0{}', '2["event",{}]', '40/admin,', '2/other,["event",{}]', '51-/x,["a",{"_placeholder":true,"num":0}]']) {
      expect(decode(new GuardedDecoder(), [frame]).error).toBeInstanceOf(RefusedFrameError);
    }
    expect(decode(new GuardedDecoder(), ['0/_event,{}']).packets).toHaveLength(1);
  });

  it('closes a connection that asks to join a second time, with or without a payload', () => {
    for (const second of ['0/_event,', '0/_event,{"token":"x"}']) {
      const { packets, error } = decode(new GuardedDecoder(), ['0/_event,', '2/_event,["event",{}]', second]);
      expect([packets.length, error instanceof RefusedFrameError]).toEqual([2, true]);
    }
  });

  it('closes a connection whose join carries more than a small auth payload, without parsing it', () => {
    // Socket.IO keeps a join's payload (`handshake.auth`) as long as the connection: 990 kB of `{}` held 21 MB each.
    const join = (chars: number) => `0/_event,{"a":"${'x'.repeat(chars - '0/_event,{"a":""}'.length)}"}`;
    expect(join(MAX_JOIN_FRAME_CHARS)).toHaveLength(MAX_JOIN_FRAME_CHARS);
    expect(decode(new GuardedDecoder(), [join(MAX_JOIN_FRAME_CHARS)]).packets).toHaveLength(1);
    const { packets, error } = decode(new GuardedDecoder(), [join(MAX_JOIN_FRAME_CHARS + 1)]);
    expect([packets.length, error instanceof RefusedFrameError]).toEqual([0, true]);
    expect(decode(new GuardedDecoder(), [`0/_event,[${new Array(3_000).fill('{}').join(',')}]`]).error).toBeInstanceOf(RefusedFrameError);
  });

  it('measures nesting outside JSON strings exactly', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.nat(10), (value, limit) => {
        expect(nestsDeeperThan(JSON.stringify(value), limit)).toBe(depthOf(value) > limit);
      }),
    );
  });

  it('counts the objects and arrays a frame opens outside JSON strings exactly', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        expect(scanFrame(JSON.stringify(value), MAX_FRAME_DEPTH)).toBe(containersIn(value));
      }),
    );
  });

  it('counts the keys and array items, and the distinct key names, outside JSON strings exactly', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.constantFrom('', ' ', '\n\t '), (value, space) => {
        scanFrame(JSON.stringify(value, null, space), MAX_FRAME_DEPTH, Number.MAX_SAFE_INTEGER);
        expect(valuesInLastScan()).toBe(valuesIn(value));
        expect(keyNamesInLastScan()).toBe(keyNamesIn(value).size);
      }),
    );
  });

  it('stops counting key names one past the limit it is given', () => {
    const frame = JSON.stringify(Array.from({ length: 500 }, (_, index) => ({ [`k${index}`]: 0 })));
    scanFrame(frame, MAX_FRAME_DEPTH, 100);
    expect(keyNamesInLastScan()).toBe(101);
  });

  it('hands on an event carrying more distinct key names than its size allows unparsed, as invalid_payload; repeated names pass', () => {
    const { maxKeyNames } = frameShapeLimits(10_000);
    expect(maxKeyNames).toBe(10_000 / BYTES_PER_FRAME_KEY_NAME);
    const event = (names: (index: number) => string, count: number) =>
      `2/_event,["event",{"name":"s.h","payload":{"v":${JSON.stringify(Array.from({ length: count }, (_, index) => ({ [names(index)]: 0 })))}}}]`;
    // The event's own keys (name, payload, v) are names too.
    // Frames of up to a kilobyte are not scanned: names long enough to pass it.
    const within = event((index) => `key_${index}`, maxKeyNames - 3);
    const over = event((index) => `key_${index}`, maxKeyNames - 2);
    const repeated = event((index) => `key_${index % 10}`, maxKeyNames * 2);
    expect(within.length).toBeGreaterThan(1_024);
    const { packets, error } = decode(new GuardedDecoder(), ['0/_event,', within, over, repeated]);
    expect(error).toBeUndefined();
    expect((packets[1] as { data: unknown[] }).data[1]).toEqual(JSON.parse(within.slice('2/_event,'.length))[1]);
    expect(((packets[2] as { data: unknown[] }).data[1] as UnparsedEvent).error).toMatchObject({ code: 'invalid_payload', message: `The event carries more than ${maxKeyNames} different key names.` });
    expect((packets[3] as { data: unknown[] }).data[1]).toEqual(JSON.parse(repeated.slice('2/_event,'.length))[1]);
  });

  it('hands on an event carrying more values than any event may unparsed, as invalid_payload', () => {
    const { Decoder: LargeDecoder } = guardedSocketIoParser({ namespace: '/_event', maxMessageBytes: 1_000_000, maxPendingBinaryBytes: 64_000_000 });
    const { maxValues } = frameShapeLimits(1_000_000);
    const event = (count: number) => `2/_event,["event",{"name":"s.h","payload":{"v":[${new Array(count).fill(0).join(',')}]}}]`;
    // Besides the items: the namespace's comma, the packet's two items, the event's two keys and the payload's one.
    const { packets, error } = decode(new LargeDecoder(), ['0/_event,', event(maxValues - 6), event(maxValues - 5)]);
    expect(error).toBeUndefined();
    expect(((packets[1] as { data: unknown[] }).data[1] as { payload: { v: unknown[] } }).payload.v).toHaveLength(maxValues - 6);
    expect(((packets[2] as { data: unknown[] }).data[1] as UnparsedEvent).error).toMatchObject({ code: 'invalid_payload', message: `The event carries more than ${maxValues} values.` });
  });

  it('hands on an event carrying more objects and arrays than its size allows unparsed, as invalid_payload, and goes on decoding', () => {
    const limit = 10_000 / BYTES_PER_FRAME_CONTAINER;
    const event = (items: string[]) => `2/_event,["event",{"name":"s.h","payload":{"v":[${items.join(',')}]}}]`;
    // The packet's array, the event, its payload and the list count too: 4 besides the items.
    const within = event(new Array(limit - 4).fill('{}'));
    const over = event(new Array(limit - 3).fill('{}'));
    const small = '2/_event,["event",{}]';
    const { packets, error } = decode(new GuardedDecoder(), ['0/_event,', within, over, small]);
    expect(error).toBeUndefined();
    expect(packets).toHaveLength(4);
    expect((packets[1] as { data: unknown[] }).data[1]).toEqual(JSON.parse(within.slice('2/_event,'.length))[1]);
    const unparsed = (packets[2] as { type: number; nsp: string; data: unknown[] }).data[1];
    expect(packets[2]).toMatchObject({ type: 2, nsp: '/_event', data: ['event', expect.any(UnparsedEvent)] });
    expect((unparsed as UnparsedEvent).error).toMatchObject({ code: 'invalid_payload', message: `The event carries more than ${limit} objects and arrays.` });
    expect(packets[3]).toEqual({ type: 2, nsp: '/_event', data: ['event', {}] });
    // Brackets in strings are text, not objects (an event sent as a JSON string is read as the JSON it holds).
    const text = { name: 's.h', payload: { v: '{}'.repeat(limit * 2) } };
    expect(decode(new GuardedDecoder(), ['0/_event,', `2/_event,["event",${JSON.stringify(text)}]`]).packets[1]).toMatchObject({ data: ['event', text] });
  });

  it('drops any other message over the bound of objects and arrays, and closes a connection that sends one before it joined', () => {
    const other = `2/_event,["other",[${new Array(600).fill('[]').join(',')}]]`;
    expect(decode(new GuardedDecoder(), ['0/_event,', other, '2/_event,["event",{}]']).packets).toEqual([
      { type: 0, nsp: '/_event', data: undefined },
      { type: 2, nsp: '/_event', data: ['event', {}] },
    ]);
    const early = decode(new GuardedDecoder(), [`2/_event,["event",[${new Array(600).fill('{}').join(',')}]]`]);
    expect([early.packets.length, early.error instanceof RefusedFrameError]).toEqual([0, true]);
  });

  it('closes a connection whose frame nests too deep, without parsing it, and lets any frame within the bound through', () => {
    const deep = `2/_event,["event",${nested(MAX_FRAME_DEPTH)}${' '.repeat(1_100)}]`;
    expect(decode(new GuardedDecoder(), [deep]).error).toBeInstanceOf(RefusedFrameError);
    const within = `2/_event,${nested(MAX_FRAME_DEPTH)}${' '.repeat(1_100)}`;
    // socket.io-parser refuses this one itself (no event name), after parsing: the guard let it through.
    expect(decode(new GuardedDecoder(), [within]).error).not.toBeInstanceOf(RefusedFrameError);
    const strings = `2/_event,["event",${JSON.stringify({ name: 's.h', payload: { v: '['.repeat(5_000) } })}]`;
    expect(decode(new GuardedDecoder(), [strings]).packets).toHaveLength(1);
  });

  it('drops a text frame over the limit unparsed, and goes on decoding the next', () => {
    const large = `2/_event,["event",${JSON.stringify('é'.repeat(6_000))}]`;
    const small = '2/_event,["event",{}]';
    expect(decode(new GuardedDecoder(), ['0/_event,', large, small]).packets.slice(1)).toEqual([{ type: 2, nsp: '/_event', data: ['event', {}] }]);
  });

  it('closes a connection that sends a frame over the limit before it asked to join', () => {
    const large = `2/_event,["event",${JSON.stringify('x'.repeat(12_000))}]`;
    const { packets, error } = decode(new GuardedDecoder(), [large]);
    expect([packets.length, error instanceof RefusedFrameError]).toEqual([0, true]);
  });

  it('checks an event sent as a JSON string on its text, as an event sent as an object, and hands it on parsed once', () => {
    const { Decoder: LargeDecoder } = guardedSocketIoParser({ namespace: '/_event', maxMessageBytes: 1_000_000, maxPendingBinaryBytes: 64_000_000 });
    const { maxKeyNames, maxContainers } = frameShapeLimits(1_000_000);
    const asString = (event: unknown) => `2/_event,["event",${JSON.stringify(JSON.stringify(event))}]`;
    const names = { name: 'a.b', payload: Object.fromEntries(Array.from({ length: maxKeyNames + 1 }, (_, i) => [`n${i}`, 0])) };
    const objects = { name: 'a.b', payload: { v: new Array(maxContainers + 1).fill({}) } };
    const fine = { name: 'a.b', payload: { rows: Array.from({ length: 500 }, (_, i) => ({ id: i, label: `row ${i}` })) } };
    const { packets, error } = decode(new LargeDecoder(), ['0/_event,', asString(names), asString(objects), asString(fine)]);
    expect(error).toBeUndefined();
    expect(packets.slice(1).map((packet) => (packet as { data: unknown[] }).data[1])).toEqual([
      expect.objectContaining({ error: expect.objectContaining({ code: 'invalid_payload', message: `The event carries more than ${maxKeyNames} different key names.` }) }),
      expect.objectContaining({ error: expect.objectContaining({ code: 'invalid_payload', message: `The event carries more than ${maxContainers} objects and arrays.` }) }),
      JSON.stringify(fine),
    ]);
    // Nesting past the frame bound closes the connection, as it does for an event sent as an object.
    const deep = `${'['.repeat(MAX_FRAME_DEPTH + 1)}${']'.repeat(MAX_FRAME_DEPTH + 1)}`;
    const nested = decode(new LargeDecoder(), ['0/_event,', asString({ name: 'a.b', payload: { v: JSON.parse(deep), pad: 'x'.repeat(1_100) } })]);
    expect(nested.error).toBeInstanceOf(RefusedFrameError);
  });

  it('refuses unparsed an event sent as a JSON string with more items after it, whatever they hold', () => {
    const { Decoder: LargeDecoder } = guardedSocketIoParser({ namespace: '/_event', maxMessageBytes: 1_000_000, maxPendingBinaryBytes: 64_000_000 });
    const text = JSON.stringify(JSON.stringify({ name: 'a.b', payload: { pad: 'x'.repeat(1_100) } }));
    // Parsed with the string, 300,000 levels of nesting after it took 100 ms, unchecked, and the event ran.
    const deep = `2/_event,["event",${text},${'['.repeat(300_000)}${']'.repeat(300_000)}]`;
    const empty = `2/_event,["event",${text},{}]`;
    const { packets, error } = decode(new LargeDecoder(), ['0/_event,', deep, empty]);
    expect(error).toBeUndefined();
    expect(packets.slice(1).map((packet) => ((packet as { data: unknown[] }).data[1] as UnparsedEvent).error)).toEqual([
      expect.objectContaining({ code: 'invalid_event' }),
      expect.objectContaining({ code: 'invalid_event' }),
    ]);
  });

  it('bounds what all connections hold in binary packets begun and not finished, and frees it as each ends', () => {
    const { Decoder: Bounded } = guardedSocketIoParser({ namespace: '/_event', maxMessageBytes: 10_000, maxPendingBinaryBytes: 25_000 });
    const announce = (count: number) => `5${count}-/_event,["event",${Array.from({ length: count }, (_, num) => JSON.stringify({ _placeholder: true, num })).join(',')}]`;
    // Three connections each hold a packet with one of its two attachments: the third takes the server past its bound.
    const holders = [new Bounded(), new Bounded(), new Bounded()];
    const held = holders.map((decoder) => decode(decoder, [announce(2), Buffer.alloc(9_000)]));
    expect(held.map(({ error }) => error instanceof RefusedFrameError)).toEqual([false, false, true]);
    // Socket.IO destroys the decoder of the connection it closed, and the first holder's connection closes too.
    holders[2]!.destroy();
    holders[0]!.destroy();
    // A packet that ends frees what it held: others may then hold as much again.
    const whole = new Bounded();
    expect(decode(whole, [announce(1), Buffer.alloc(9_000), announce(1), Buffer.alloc(9_000)]).packets).toHaveLength(2);
    expect(decode(new Bounded(), [announce(2), Buffer.alloc(9_000)]).error).toBeUndefined();
  });

  it('counts binary attachments with their packet, and closes the connection past the limit', () => {
    const announce = (count: number) => `5${count}-/_event,["event",${Array.from({ length: count }, (_, num) => JSON.stringify({ _placeholder: true, num })).join(',')}]`;
    expect(decode(new GuardedDecoder(), [announce(1), Buffer.alloc(5_000), announce(1), Buffer.alloc(5_000)]).packets).toHaveLength(2);
    const over = decode(new GuardedDecoder(), [announce(3), Buffer.alloc(4_000), Buffer.alloc(4_000), Buffer.alloc(4_000)]);
    expect([over.packets.length, over.error instanceof RefusedFrameError]).toEqual([0, true]);
  });

  it('tells onClose of every frame it closes a connection for, its own refusals and the parser\'s errors, and of nothing else', () => {
    const closes: Array<{ decoder: object; error: Error }> = [];
    const { Decoder: Told } = guardedSocketIoParser({
      namespace: '/_event',
      maxMessageBytes: 10_000,
      maxPendingBinaryBytes: 1_000_000,
      onClose: (decoder, error) => closes.push({ decoder, error }),
    });
    // An event, a frame over the limit (dropped) and an event with too many arrays (refused unparsed): none closes.
    const fine = new Told();
    expect(decode(fine, ['0/_event,{"token":"a"}', '2/_event,["event",{"name":"a.b","payload":{}}]', `2/_event,["event","${'x'.repeat(20_000)}"]`, `2/_event,["event",${'[],'.repeat(3_000)}[]]`]).error).toBeUndefined();
    expect(closes).toEqual([]);
    const deep = new Told();
    const refused = decode(deep, ['0/_event,', `2/_event,["event",${nested(MAX_FRAME_DEPTH + 1)}${' '.repeat(1_100)}]`]);
    const unreadable = new Told();
    const broken = decode(unreadable, ['0/_event,', '2/_event,["event",{']);
    expect(closes).toEqual([
      { decoder: deep, error: refused.error },
      { decoder: unreadable, error: broken.error },
    ]);
    expect(closes[0]!.error).toBeInstanceOf(RefusedFrameError);
    expect(closes[1]!.error.message).toBe('invalid payload');
  });
});
