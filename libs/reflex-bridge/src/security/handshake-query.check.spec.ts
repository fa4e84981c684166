import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { IncomingMessage } from 'node:http';
import { MAX_HANDSHAKE_QUERY_PARAMS, handshakeQueryRefusal } from './handshake-query.check.js';

/** A request as Engine.IO hands it to `allowRequest`: its query parsed into `_query` (a null-prototype object). */
const requestWith = (query: Record<string, string> | undefined) =>
  ({ _query: query === undefined ? undefined : Object.assign(Object.create(null) as object, query) }) as unknown as IncomingMessage;

const reflexQuery = { EIO: '4', transport: 'websocket', token: 'b0b1c7a8-3a9e-4a0e-9a57-1c2d3e4f5a6b' };

describe('handshakeQueryRefusal', () => {
  it("lets through the query Reflex's state.js and socket.io-client send, and a few parameters more", () => {
    expect(handshakeQueryRefusal(requestWith(reflexQuery))).toBeUndefined();
    const extra = Object.fromEntries(Array.from({ length: MAX_HANDSHAKE_QUERY_PARAMS - 3 }, (_, i) => [`p${i}`, 'x']));
    expect(handshakeQueryRefusal(requestWith({ ...reflexQuery, ...extra }))).toBeUndefined();
  });

  it('refuses a query of more parameters than any client sends, however short they are', () => {
    const extra = Object.fromEntries(Array.from({ length: MAX_HANDSHAKE_QUERY_PARAMS - 2 }, (_, i) => [`p${i}`, '']));
    expect(handshakeQueryRefusal(requestWith({ ...reflexQuery, ...extra }))).toMatch(/^too_many_query_params: /);
  });

  it('refuses another Engine.IO protocol revision, or none, before the upgrade', () => {
    for (const EIO of ['3', '5', '', '04', ' 4']) expect(handshakeQueryRefusal(requestWith({ ...reflexQuery, EIO }))).toMatch(/^unsupported_protocol: /);
    const { EIO: _left, ...withoutEio } = reflexQuery;
    expect(handshakeQueryRefusal(requestWith(withoutEio))).toMatch(/^unsupported_protocol: /);
  });

  it('answers for any query a client can write, refusing exactly the crowded ones and the wrong revisions', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), { maxKeys: 60 }), fc.boolean(), (query, reflex) => {
        const sent = reflex ? { ...query, EIO: '4' } : query;
        const refusal = handshakeQueryRefusal(requestWith(sent));
        const crowded = Object.keys(sent).length > MAX_HANDSHAKE_QUERY_PARAMS;
        if (crowded) expect(refusal).toMatch(/^too_many_query_params: /);
        else if (sent['EIO'] !== '4') expect(refusal).toMatch(/^unsupported_protocol: /);
        else expect(refusal).toBeUndefined();
      }),
    );
  });

  it('leaves a request Engine.IO did not parse to Engine.IO', () => {
    expect(handshakeQueryRefusal(requestWith(undefined))).toBeUndefined();
  });
});
