import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { EventCacheService } from '../../cache/event-cache.service.js';
import { resolveOptions } from '../../reflex-bridge.options.js';
import { FastAuth, FastAuthRequest, SessionNotLoadedError } from './fast-auth.js';

const SECRET = 'fast auth spec secret';
const USERS = new Map<number, { id: number; name: string }>([[1, { id: 1, name: 'ann' }]]);

function signedCookie(id: string, secret = SECRET): string {
  const value = `s:${id}.${createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, '')}`;
  return `connect.sid=${encodeURIComponent(value)}`;
}

function setup(loadUser: (id: string | number) => unknown = (id) => USERS.get(Number(id))) {
  const options = resolveOptions({ fastAuth: { sessionSecret: SECRET, loadUser } });
  const cache = new EventCacheService(options);
  return { cache, fastAuth: new FastAuth(options.fastAuth!, cache) };
}

const requestWith = (cookie?: string) =>
  new FastAuthRequest({ path: '/', query: {}, headers: cookie ? { cookie } : {}, ip: '::1', remoteAddress: '::1', secure: false });

describe('FastAuth', () => {
  it('binds the user of a fresh snapshot synchronously, with a lazy session', () => {
    const { cache, fastAuth } = setup();
    void cache.set('sid-1', { userId: 1, isAuthenticated: true });
    const request = requestWith(signedCookie('sid-1'));
    const result = fastAuth.authenticate(request, async () => undefined);
    expect(result).toEqual({ hit: true, sessionId: 'sid-1' });
    expect(request.user).toEqual({ id: 1, name: 'ann' });
    expect(request.sessionID).toBe('sid-1');
    expect((request as unknown as { isAuthenticated(): boolean }).isAuthenticated()).toBe(true);
    expect(() => request.session).toThrow(SessionNotLoadedError);
  });

  it('treats a forged or tampered cookie as a miss and leaves the request anonymous', () => {
    const { cache, fastAuth } = setup();
    void cache.set('sid-1', { userId: 1, isAuthenticated: true });
    for (const cookie of [signedCookie('sid-1', 'wrong secret'), signedCookie('sid-1').replace('sid-1', 'sid-2'), 'connect.sid=sid-1', undefined]) {
      const request = requestWith(cookie);
      expect(fastAuth.authenticate(request, async () => undefined)).toEqual({ hit: false });
      expect(request.user).toBeUndefined();
      expect(request.session).toBeUndefined();
    }
  });

  it('misses without a snapshot, and answers anonymous for an anonymous snapshot or a user that is gone', () => {
    const { cache, fastAuth } = setup();
    expect(fastAuth.authenticate(requestWith(signedCookie('none')), async () => undefined)).toEqual({ hit: false, sessionId: 'none' });
    void cache.set('anon', { userId: null, isAuthenticated: false });
    void cache.set('gone', { userId: 99, isAuthenticated: true });
    for (const sid of ['anon', 'gone']) {
      const request = requestWith(signedCookie(sid));
      expect(fastAuth.authenticate(request, async () => undefined)).toEqual({ hit: true, sessionId: sid });
      expect(request.user).toBeUndefined();
    }
  });

  it('answers with a snapshot only as old as the handler accepts (@AuthMaxAge), and leaves the request untouched otherwise', () => {
    const { cache, fastAuth } = setup();
    // Ages within the cache's TTL (60 s; older ones are not kept at all), and well away from the limit, so that the
    // milliseconds the test itself takes cannot change the answer.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3_600_000 }), fc.integer({ min: 0, max: 50_000 }), (maxAgeMs, age) => {
        fc.pre(Math.abs(age - maxAgeMs) > 1_000);
        void cache.put('sid-1', { userId: 1, isAuthenticated: true }, undefined, Date.now() - age);
        const request = requestWith(signedCookie('sid-1'));
        const result = fastAuth.authenticate(request, async () => undefined, maxAgeMs);
        if (age < maxAgeMs) {
          expect(result).toEqual({ hit: true, sessionId: 'sid-1' });
          expect(request.user).toEqual({ id: 1, name: 'ann' });
        } else {
          expect(result).toEqual({ hit: false, sessionId: 'sid-1', stale: true });
          expect(request.user).toBeUndefined();
        }
      }),
    );
  });

  it('takes a snapshot without the time its session was read as too old for any limit, and as fresh without one', async () => {
    const { cache, fastAuth } = setup();
    const shared = new Map<string, unknown>([['rx:event:old', { userId: 1, isAuthenticated: true }]]);
    // A snapshot written by a version before these times: as another worker's cache would give it back.
    (cache as unknown as { peek(sid: string): unknown }).peek = (sid: string) => shared.get(`rx:event:${sid}`);
    expect(fastAuth.authenticate(requestWith(signedCookie('old')), async () => undefined, 3_600_000)).toEqual({ hit: false, sessionId: 'old', stale: true });
    expect(fastAuth.authenticate(requestWith(signedCookie('old')), async () => undefined)).toEqual({ hit: true, sessionId: 'old' });
  });

  it('waits for an asynchronous loadUser', async () => {
    const { cache, fastAuth } = setup(async (id) => USERS.get(Number(id)));
    void cache.set('sid-1', { userId: 1, isAuthenticated: true });
    const request = requestWith(signedCookie('sid-1'));
    const result = fastAuth.authenticate(request, async () => undefined);
    expect(result).toBeInstanceOf(Promise);
    expect(await result).toEqual({ hit: true, sessionId: 'sid-1' });
    expect(request.user).toEqual({ id: 1, name: 'ann' });
  });

  it('loads the session on demand through the middleware, which sees "no session yet" while loading', async () => {
    const { cache, fastAuth } = setup();
    void cache.set('sid-1', { userId: 1, isAuthenticated: true });
    const request = requestWith(signedCookie('sid-1'));
    let seenWhileLoading: unknown = 'not called';
    let loads = 0;
    expect(
      fastAuth.authenticate(request, async () => {
        loads++;
        seenWhileLoading = request.session;
        request.session = { id: 'sid-1', visits: 1 };
      }),
    ).toEqual({ hit: true, sessionId: 'sid-1' });
    const loadSession = request.loadSession as () => Promise<unknown>;
    expect(await loadSession()).toEqual({ id: 'sid-1', visits: 1 });
    expect(await loadSession()).toEqual({ id: 'sid-1', visits: 1 });
    expect(loads).toBe(1);
    expect(seenWhileLoading).toBeUndefined();
    expect(request.session).toEqual({ id: 'sid-1', visits: 1 });
    // express-session's destroy deletes `req.session`: it must be gone, not the lazy error.
    delete request.session;
    expect(request.session).toBeUndefined();
    request.session = { id: 'new' };
    expect(request.session).toEqual({ id: 'new' });
  });

  it('answers no session when loading found none', async () => {
    const { cache, fastAuth } = setup();
    void cache.set('sid-1', { userId: 1, isAuthenticated: true });
    const request = requestWith(signedCookie('sid-1'));
    expect(fastAuth.authenticate(request, async () => undefined)).toEqual({ hit: true, sessionId: 'sid-1' });
    expect(await (request.loadSession as () => Promise<unknown>)()).toBeUndefined();
  });

  it('leaves a missed request an ordinary one: the middleware sets and deletes its session', () => {
    const request = requestWith();
    expect(request.session).toBeUndefined();
    request.session = { id: 'x' };
    expect(Object.keys(request)).toContain('session');
    delete request.session;
    expect(request.session).toBeUndefined();
  });
});
