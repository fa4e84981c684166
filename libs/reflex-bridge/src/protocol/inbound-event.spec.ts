import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { BridgeError } from './bridge-error.js';
import { MAX_ROUTER_DATA_CHARS, MAX_ROUTER_DATA_VALUES, parseInboundEvent, valuesInLastEvent } from './inbound-event.js';

const FORBIDDEN = ['__proto__', 'constructor', 'prototype'];

/** A JSON value whose objects hold none of the forbidden keys (what a well-behaved client sends). */
const cleanJson = fc.jsonValue({ maxDepth: 5 }).filter((value) => !FORBIDDEN.some((key) => JSON.stringify(value).includes(`"${key}"`)));
/** A key that is not one of the forbidden ones. */
const cleanKey = fc.string().filter((key) => !FORBIDDEN.includes(key));
/** The page fields of `router_data`, each of its own type. */
const PAGE_FIELDS = ['pathname', 'asPath', 'query'];
/** Router data as a client sends it: the page's fields, each optional, and any other clean keys. */
const routerDataArbitrary = fc
  .tuple(
    fc.record({ pathname: fc.string(), asPath: fc.string(), query: fc.dictionary(cleanKey, fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 }))) }, { requiredKeys: [] }),
    fc.dictionary(cleanKey.filter((key) => !PAGE_FIELDS.includes(key)), cleanJson),
  )
  .map(([page, extra]) => ({ ...extra, ...page }));
/** A JSON value that is not a string (nor null, which counts as absent). */
const notText = fc.oneof(fc.integer(), fc.boolean(), fc.array(cleanJson, { maxLength: 3 }), fc.dictionary(cleanKey, cleanJson, { maxKeys: 3 }));
/** A JSON value that is not an object (nor null). */
const notObject = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.array(cleanJson, { maxLength: 3 }));

function errorOf(frame: unknown): { code: string; message: string } | undefined {
  try {
    parseInboundEvent(frame);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(BridgeError);
    return { code: (error as BridgeError).code, message: (error as BridgeError).message };
  }
}

describe('parseInboundEvent', () => {
  it('accepts any JSON payload and router data, as a string frame or decoded, and keeps them as sent', () => {
    fc.assert(
      fc.property(fc.dictionary(cleanKey, cleanJson), routerDataArbitrary, fc.string({ minLength: 1, maxLength: 40 }), (payload, routerData, name) => {
        const envelope = { name, payload, router_data: routerData };
        const text = JSON.stringify(envelope);
        for (const frame of [text, JSON.parse(text) as unknown]) {
          expect(parseInboundEvent(frame)).toEqual({ name, payload: JSON.parse(JSON.stringify(payload)), routerData: JSON.parse(JSON.stringify(routerData)) });
        }
      }),
    );
  });

  it('refuses a forbidden key at any depth, naming it, also where the key shadows what objects inherit', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FORBIDDEN), fc.array(fc.constantFrom('a', 'b', 'items'), { maxLength: 6 }), cleanJson, fc.boolean(), (key, path, value, inRouterData) => {
        // Built as JSON text: `{"__proto__": ...}` is then an own key, as a client sends it.
        let inner = `{${JSON.stringify(key)}:${JSON.stringify(value)}}`;
        for (const step of [...path].reverse()) inner = step === 'items' ? `[${inner}]` : `{${JSON.stringify(step)}:${inner}}`;
        const frame = `{"name":"s.h","${inRouterData ? 'router_data' : 'payload'}":{"x":${inner}}}`;
        expect(errorOf(frame)).toEqual({ code: 'invalid_payload', message: `The event carries a forbidden key: ${key}.` });
      }),
    );
  });

  it('refuses binary attachments and other values JSON cannot make, anywhere', () => {
    class Point {
      x = 1;
    }
    const notJson = [Buffer.from('abc'), new Uint8Array(3), new ArrayBuffer(2), new Point(), new Date(0), new Map(), Object.create({ inherited: true }) as object];
    for (const value of notJson) {
      expect(errorOf({ name: 's.h', payload: { file: value } })?.code).toBe('invalid_event');
      expect(errorOf({ name: 's.h', payload: { list: [1, { deep: value }] } })?.code).toBe('invalid_event');
      expect(errorOf({ name: 's.h', router_data: { query: value } })?.code).toBe('invalid_event');
      expect(errorOf({ name: 's.h', payload: value })?.code).toBe('invalid_payload');
    }
    for (const binary of [Buffer.from('{"name":"s.h"}'), new ArrayBuffer(4), new Uint8Array(2)]) {
      expect(errorOf(binary)).toEqual({ code: 'invalid_event', message: 'Events are JSON: binary attachments are refused.' });
    }
  });

  it("refuses router data whose page fields are not a page's: a non-string path, a query that is not an object", () => {
    fc.assert(
      fc.property(routerDataArbitrary, fc.oneof(fc.tuple(fc.constantFrom('pathname', 'asPath'), notText), fc.tuple(fc.constant('query'), notObject)), fc.boolean(), (routerData, [field, value], asText) => {
        const envelope = { name: 's.h', payload: {}, router_data: { ...routerData, [field]: value } };
        expect(errorOf(asText ? JSON.stringify(envelope) : envelope)?.code).toBe('invalid_event');
      }),
    );
    // A string query is the case that mattered: copied key by key, each character became a query parameter.
    expect(errorOf({ name: 's.h', router_data: { pathname: '/', query: 'x'.repeat(10_000) } })).toEqual({
      code: 'invalid_event',
      message: 'The event "router_data.query" must be an object.',
    });
  });

  it('takes router data of up to MAX_ROUTER_DATA_VALUES values, beside a payload of many more, and refuses one more', () => {
    // pathname, asPath and query count one each; every query parameter one more.
    const page = (parameters: number) => ({ pathname: '/', asPath: '/', query: Object.fromEntries(Array.from({ length: parameters }, (_, i) => [`p${i}`, '1'])) });
    const payload = { rows: Array.from({ length: 100_000 }, (_, i) => i) };
    expect(parseInboundEvent({ name: 's.h', payload, router_data: page(MAX_ROUTER_DATA_VALUES - 3) }).routerData.query).toHaveProperty(`p${MAX_ROUTER_DATA_VALUES - 4}`);
    expect(errorOf({ name: 's.h', payload, router_data: page(MAX_ROUTER_DATA_VALUES - 2) })).toEqual({
      code: 'invalid_event',
      message: `The event "router_data" carries more than ${MAX_ROUTER_DATA_VALUES} values.`,
    });
    // Array items count as values too.
    expect(errorOf({ name: 's.h', router_data: { query: { tags: Array.from({ length: MAX_ROUTER_DATA_VALUES }, () => 't') } } })?.code).toBe('invalid_event');
  });

  it('takes router data of up to MAX_ROUTER_DATA_CHARS characters of keys and texts besides its paths, and refuses more', () => {
    // What the state keeps of a page: a made-up query of a message's size would stay in every state a client opens.
    // The two paths are not counted: the router var cuts them, and asPath may carry a long #fragment.
    const pageChars = (routerData: Record<string, unknown>) => charsOf(Object.fromEntries(Object.entries(routerData).filter(([key]) => key !== 'pathname' && key !== 'asPath')));
    const charsOf = (value: unknown): number =>
      typeof value === 'string' ? value.length
        : Array.isArray(value) ? value.reduce((sum: number, item) => sum + charsOf(item), 0)
          : value !== null && typeof value === 'object' ? Object.entries(value).reduce((sum, [key, item]) => sum + key.length + charsOf(item), 0) : 0;
    const text = fc.integer({ min: 0, max: MAX_ROUTER_DATA_CHARS / 2 }).map((length) => 'q'.repeat(length));
    const query = fc.dictionary(fc.string({ maxLength: 8 }).filter((key) => !['__proto__', 'constructor', 'prototype'].includes(key)), fc.oneof(text, fc.array(text, { maxLength: 3 })), { maxKeys: 4 });
    fc.assert(
      fc.property(fc.record({ pathname: text, asPath: text, query }), (routerData) => {
        const error = errorOf({ name: 's.h', router_data: routerData });
        if (pageChars(routerData) <= MAX_ROUTER_DATA_CHARS) expect(error).toBeUndefined();
        else expect(error).toEqual({ code: 'invalid_event', message: `The event "router_data" holds more than ${MAX_ROUTER_DATA_CHARS} characters.` });
      }),
      { numRuns: 300 },
    );
    // The bound exactly: keys count too ("query", 5; "q", 1).
    const exactly = (extra: number) => ({ pathname: '/', query: { q: 'x'.repeat(MAX_ROUTER_DATA_CHARS - 5 - 1 + extra) } });
    expect(errorOf({ name: 's.h', router_data: exactly(0) })).toBeUndefined();
    expect(errorOf({ name: 's.h', router_data: exactly(1) })?.code).toBe('invalid_event');
    // A page whose URL carries data in its fragment (a share link) loads whatever its length.
    const fragment = `#data=${'z'.repeat(3 * MAX_ROUTER_DATA_CHARS)}`;
    expect(errorOf({ name: 's.h', router_data: { pathname: '/editor', asPath: `/editor${fragment}`, query: {} } })).toBeUndefined();
  });

  it('refuses a query value that is not a text or a list of texts, which no URL carries', () => {
    const notQueryValue = fc.oneof(fc.integer(), fc.boolean(), fc.dictionary(cleanKey, cleanJson, { maxKeys: 2 }), fc.array(fc.oneof(fc.integer(), fc.constant({}), fc.constant([])), { minLength: 1, maxLength: 3 }));
    fc.assert(
      fc.property(fc.dictionary(cleanKey, fc.string(), { maxKeys: 3 }), cleanKey, notQueryValue, (query, key, value) => {
        expect(errorOf({ name: 's.h', router_data: { pathname: '/', query: { ...query, [key]: value } } })).toEqual({
          code: 'invalid_event',
          message: 'The event "router_data.query" values must be strings, lists of strings or null, as a URL carries them.',
        });
      }),
    );
    expect(errorOf({ name: 's.h', router_data: { pathname: '/', query: { tag: ['a', 'b'], q: '', empty: [] } } })).toBeUndefined();
    // An optional route argument the URL lacks, as state.js sends it (React Router's undefined, written as null).
    expect(errorOf({ name: 's.h', router_data: { pathname: '/guide', query: { topic: null } } })).toBeUndefined();
  });

  it('accepts objects without a prototype (what some decoders make)', () => {
    const payload = Object.assign(Object.create(null) as Record<string, unknown>, { a: Object.assign(Object.create(null) as object, { b: 1 }) });
    expect(parseInboundEvent({ name: 's.h', payload }).payload).toBe(payload);
  });

  it('refuses an envelope that is not an object with a name', () => {
    for (const frame of ['not json', '[]', '1', 'null', '{}', '{"name":""}', `{"name":"${'x'.repeat(513)}"}`, '{"name":1}', [], null, 1]) {
      expect(errorOf(frame)?.code).toBe('invalid_event');
    }
    expect(errorOf('{"name":"s.h","payload":[1]}')?.code).toBe('invalid_payload');
    expect(errorOf('{"name":"s.h","router_data":"x"}')?.code).toBe('invalid_event');
  });
});

describe('valuesInLastEvent', () => {
  /** Keys and array items in `value`, as the validation walk counts them. */
  const count = (value: unknown): number => {
    if (value === null || typeof value !== 'object') return 0;
    if (Array.isArray(value)) return value.length + value.reduce((sum: number, item) => sum + count(item), 0);
    return Object.entries(value).reduce((sum, [, item]) => sum + 1 + count(item), 0);
  };

  it('is the number of keys and array items of the last event parsed, its payload and router_data together', () => {
    fc.assert(
      fc.property(fc.dictionary(cleanKey, cleanJson, { maxKeys: 5 }), routerDataArbitrary, (payload, routerData) => {
        let parsed = true;
        try {
          parseInboundEvent({ name: 's.h', payload, router_data: routerData });
        } catch {
          parsed = false;
        }
        fc.pre(parsed);
        expect(valuesInLastEvent()).toBe(count(payload) + count(routerData));
      }),
    );
  });
});
