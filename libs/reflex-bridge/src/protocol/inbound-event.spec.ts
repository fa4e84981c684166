import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { BridgeError } from './bridge-error.js';
import { parseInboundEvent } from './inbound-event.js';

const FORBIDDEN = ['__proto__', 'constructor', 'prototype'];

/** A JSON value whose objects hold none of the forbidden keys (what a well-behaved client sends). */
const cleanJson = fc.jsonValue({ maxDepth: 5 }).filter((value) => !FORBIDDEN.some((key) => JSON.stringify(value).includes(`"${key}"`)));
/** A key that is not one of the forbidden ones. */
const cleanKey = fc.string().filter((key) => !FORBIDDEN.includes(key));

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
      fc.property(fc.dictionary(cleanKey, cleanJson), fc.dictionary(cleanKey, cleanJson), fc.string({ minLength: 1, maxLength: 40 }), (payload, routerData, name) => {
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
    expect(errorOf(Buffer.from('{"name":"s.h"}'))?.code).toBe('invalid_event');
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
