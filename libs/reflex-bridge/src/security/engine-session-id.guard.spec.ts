import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import { refuseSessionIdRequests } from './engine-session-id.guard.js';

/** Whether the guard lets a request with `url` (and Engine.IO's parsed `_query`, when given) through. */
function passes(url: string, parsedQuery?: Record<string, unknown>): boolean {
  let outcome: Error | undefined | 'not called' = 'not called';
  const request = { url, ...(parsedQuery ? { _query: parsedQuery } : {}) } as unknown as IncomingMessage;
  refuseSessionIdRequests(request, {}, (error) => (outcome = error));
  if (outcome === 'not called') throw new Error('next was not called');
  return outcome === undefined;
}

describe('refuseSessionIdRequests', () => {
  it('lets handshakes through and refuses requests naming a connection, as Engine.IO reads the query', () => {
    expect(passes('/_event/?EIO=4&transport=websocket&token=abcdefgh')).toBe(true);
    expect(passes('/_event/?EIO=4&transport=websocket&sid=')).toBe(true);
    expect(passes('/_event/?EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAAAAAA')).toBe(false);
    expect(passes('/_event/?EIO=4&transport=websocket&%73id=x')).toBe(false);
    expect(passes('/_event/?sid=&sid=x')).toBe(false);
    expect(passes('/_event/?sid=x', { EIO: '4' })).toBe(true);
    expect(passes('/_event/', { sid: 'x' })).toBe(false);
  });

  it('refuses a request whose URL cannot be read', () => {
    expect(passes('http://[')).toBe(false);
  });
});
