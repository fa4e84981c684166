import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { EventCacheService } from '../../cache/event-cache.service.js';
import { resolveOptions, type ReflexBridgeModuleOptions } from '../../reflex-bridge.options.js';
import type { BridgeOutcome } from '../bridge-outcome.js';
import { SnapshotWriter } from './snapshot-writer.service.js';
import { SyntheticRequest } from '../request/synthetic-request.js';
import { SyntheticResponse } from '../request/synthetic-response.js';

const SECRET = 'snapshot writer spec';
const FAST_AUTH: ReflexBridgeModuleOptions = { fastAuth: { sessionSecret: SECRET, loadUser: (id) => ({ id }) } };

const cookieFor = (id: string) => `connect.sid=${encodeURIComponent(`s:${id}.${createHmac('sha256', SECRET).update(id).digest('base64').replace(/=+$/, '')}`)}`;

function setup(options: ReflexBridgeModuleOptions = FAST_AUTH) {
  const resolved = resolveOptions(options);
  const cache = new EventCacheService(resolved);
  return { cache, writer: new SnapshotWriter(resolved, cache) };
}

/** A bridged event after its auth chain ran: the session middleware gave it `sessionId` (and maybe set the cookie). */
function bridgedEvent(sessionId: string, options: { cookie?: string; setsCookie?: boolean; user?: { id: number } } = {}): BridgeOutcome {
  const headers: Record<string, string> = options.cookie ? { cookie: options.cookie } : {};
  const request = new SyntheticRequest({ path: '/', query: {}, headers, ip: '::1', remoteAddress: '::1', secure: false });
  request.sessionID = sessionId;
  request.user = options.user;
  const response = new SyntheticResponse();
  if (options.setsCookie) response.setHeader('set-cookie', [`${cookieFor(sessionId)}; Path=/; HttpOnly`]);
  response.end();
  return { tier: 'auth_only', request, response, cookieHeader: options.cookie ?? '', sessionIdBefore: sessionId, hadUser: options.user !== undefined };
}

/** What the bridge does at the end of an event: the write before the response ends, and the one after. */
async function finish(writer: SnapshotWriter, outcome: BridgeOutcome): Promise<void> {
  await writer.beforeEnd(outcome);
  await writer.afterEnd(outcome);
}

describe('SnapshotWriter', () => {
  it('writes nothing for anonymous, cookie-less events: five events, no entry', async () => {
    const { cache, writer } = setup();
    const sessions = ['anon-1', 'anon-2', 'anon-3', 'anon-4', 'anon-5'];
    for (const id of sessions) void finish(writer, bridgedEvent(id));
    expect(sessions.filter((id) => cache.peek(id) !== undefined)).toHaveLength(0);
  });

  it('writes a snapshot for a session that arrived with its cookie, and for one whose cookie the middleware just set', async () => {
    const { cache, writer } = setup();
    // Each snapshot keeps when its session was read (what @AuthMaxAge compares with), as the tier noted it.
    const readAtMs = Date.now() - 2_000;
    await finish(writer, { ...bridgedEvent('returning', { cookie: cookieFor('returning'), user: { id: 7 } }), sessionReadAtMs: readAtMs });
    await finish(writer, { ...bridgedEvent('new-login', { setsCookie: true, user: { id: 8 } }), sessionReadAtMs: readAtMs });
    await finish(writer, { ...bridgedEvent('anonymous-with-cookie', { cookie: cookieFor('anonymous-with-cookie') }), sessionReadAtMs: readAtMs });
    expect(cache.peek('returning')).toEqual({ userId: 7, isAuthenticated: true, readAtMs });
    expect(cache.peek('new-login')).toEqual({ userId: 8, isAuthenticated: true, readAtMs });
    expect(cache.peek('anonymous-with-cookie')).toEqual({ userId: null, isAuthenticated: false, readAtMs });
  });

  it('writes nothing without fast auth, and nothing on the fast path itself', async () => {
    const without = setup({});
    await finish(without.writer, bridgedEvent('s1', { cookie: cookieFor('s1'), user: { id: 1 } }));
    expect(without.cache.peek('s1')).toBeUndefined();
    const { cache, writer } = setup();
    await finish(writer, { ...bridgedEvent('s2', { cookie: cookieFor('s2'), user: { id: 2 } }), fastPath: true });
    expect(cache.peek('s2')).toBeUndefined();
  });

  it('drops the old session\'s snapshot on a logout', async () => {
    const { cache, writer } = setup();
    await cache.set('old', { userId: 3, isAuthenticated: true });
    const loggedOut = bridgedEvent('new', { cookie: cookieFor('old') });
    loggedOut.sessionIdBefore = 'old';
    loggedOut.hadUser = true;
    await finish(writer, loggedOut);
    expect(cache.peek('old')).toBeUndefined();
  });

  it('keeps no snapshot of a user whose id would come back as another value or not at all (a JSON round trip through a shared cache)', () => {
    const { writer } = setup();
    const requestOf = (user: unknown) => {
      const request = new SyntheticRequest({ path: '/', query: {}, headers: {}, ip: '::1', remoteAddress: '::1', secure: false });
      request.user = user;
      return request;
    };
    // Each would make fast auth load another user than the middleware did (a Date comes back as a string, NaN as null,
    // that is anonymous), or fail every write to Redis (a bigint does not serialise) as if the cache were down.
    const odd: unknown[] = [null, NaN, Infinity, -Infinity, 10n, new Date(0), { tenant: 1, id: 2 }, ['a'], true, () => 1, Symbol('id')];
    expect(odd.map((id) => writer.snapshotOf(requestOf({ id })))).toEqual(odd.map(() => undefined));
    // What does survive the round trip is kept as before.
    expect(writer.snapshotOf(requestOf({ id: 0 }))).toEqual({ userId: 0, isAuthenticated: true });
    expect(writer.snapshotOf(requestOf({ id: ':base64:AA' }))).toEqual({ userId: ':base64:AA', isAuthenticated: true });
    expect(writer.snapshotOf(requestOf(undefined))).toEqual({ userId: null, isAuthenticated: false });
  });
});
