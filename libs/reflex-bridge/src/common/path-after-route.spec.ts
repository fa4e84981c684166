import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import { pathAfterRoute } from './path-after-route.js';

const request = (url: string) => ({ url }) as IncomingMessage;

describe('pathAfterRoute', () => {
  it('is the still-encoded rest of the path after the prefix, without the query', () => {
    expect(pathAfterRoute(request('/_upload/photos/a%20b.png?v=2#top'), '/_upload/')).toBe('photos/a%20b.png');
    expect(pathAfterRoute(request('/_upload/a.png#x?y'), '/_upload/')).toBe('a.png');
  });

  it('matches the prefix in any letter case, as Express routes', () => {
    expect(pathAfterRoute(request('/API/_Upload/a.png'), '/api/_upload/')).toBe('a.png');
  });

  it('never takes the path from the query', () => {
    expect(pathAfterRoute(request('/_UPLOAD/a.png?next=/_upload/b.png'), '/_upload/')).toBe('a.png');
    expect(pathAfterRoute(request('/elsewhere?next=/_upload/b.png'), '/_upload/')).toBeUndefined();
  });
});
