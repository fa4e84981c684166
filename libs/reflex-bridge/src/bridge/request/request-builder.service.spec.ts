import { ConnectionLifecycle } from '../../common/connection-lifecycle.js';
import { describe, expect, it } from '@jest/globals';
import { EventCacheService } from '../../cache/event-cache.service.js';
import type { EventClient } from '../../common/event-client.js';
import { resolveOptions, type ReflexBridgeModuleOptions } from '../../reflex-bridge.options.js';
import { FastAuthRequest } from '../session/fast-auth.js';
import { RequestBuilder } from './request-builder.service.js';

const client = (headers: Record<string, string> = {}): EventClient => ({
  token: 't',
  sid: 's',
  headers,
  remoteAddress: '10.0.0.9',
  emitUpdate: () => undefined,
  emitError: () => undefined,
});

function builder(options: ReflexBridgeModuleOptions = {}): RequestBuilder {
  const resolved = resolveOptions(options);
  return new RequestBuilder(resolved, new EventCacheService(resolved), new ConnectionLifecycle());
}

describe('RequestBuilder', () => {
  it('builds the request for the page: a query in the pathname goes to req.query, never into req.path', () => {
    const { request } = builder().build(client(), '/products?page=2&sort=price', { sort: 'name' }, '10.0.0.9');
    expect(request.path).toBe('/products');
    expect({ ...request.query }).toEqual({ page: '2', sort: 'name' });
    expect(request.url).toBe('/products?page=2&sort=name');
  });

  it('presents the socket\'s current cookie header: the handshake\'s, then the one an event moved it to', () => {
    const requests = builder();
    const socket = client({ cookie: 'connect.sid=a', 'user-agent': 'spec' });
    expect(requests.build(socket, '/', {}, '::1').request.cookies).toEqual({ 'connect.sid': 'a' });
    requests.useCookieHeader(socket, 'connect.sid=b');
    const { request, cookieHeader } = requests.build(socket, '/', {}, '::1');
    expect(cookieHeader).toBe('connect.sid=b');
    expect(request.headers).toEqual({ cookie: 'connect.sid=b', 'user-agent': 'spec' });
    // Middleware changing req.headers does not change the socket's.
    request.headers.cookie = 'changed';
    expect(socket.headers.cookie).toBe('connect.sid=a');
    requests.forget(socket);
    expect(requests.cookieHeaderOf(socket)).toBe('connect.sid=a');
  });

  it('builds the lazy-session request only when fast auth may answer', () => {
    const requests = builder({ fastAuth: { sessionSecret: 's', loadUser: () => undefined } });
    expect(requests.build(client(), '/', {}, '::1', true).request).toBeInstanceOf(FastAuthRequest);
    expect(requests.build(client(), '/', {}, '::1').request).not.toBeInstanceOf(FastAuthRequest);
  });

  it('takes the client IP from X-Forwarded-For only behind a trusted proxy, and then its last entry', () => {
    const forwarded = client({ 'x-forwarded-for': '1.2.3.4, 5.6.7.8' });
    expect(builder().clientIp(forwarded)).toBe('10.0.0.9');
    expect(builder({ bridge: { trustProxy: true } }).clientIp(forwarded)).toBe('5.6.7.8');
  });
});
