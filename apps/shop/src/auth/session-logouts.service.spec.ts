import { describe, expect, it } from '@jest/globals';
import type { Request } from 'express';
import session from 'express-session';
import { SessionLogouts } from './session-logouts.service.js';

/**
 * A request of a logged-in session as express-session and passport leave it, with passport's logout reduced to what
 * matters here: it ends the stored session (regeneration destroys it) and counts itself.
 */
function loggedInRequest(store: session.Store, sessionID: string, logouts: { count: number }, fail?: Error): Request {
  const request = {
    sessionID,
    sessionStore: store,
    user: { id: 1 },
    logout(done: (error?: Error) => void) {
      logouts.count++;
      if (fail) return void setImmediate(() => done(fail));
      store.destroy(sessionID, () => {
        request.user = undefined;
        done();
      });
    },
  } as unknown as Request & { user: unknown };
  return request;
}

const stored = (store: session.Store, sessionID: string) =>
  new Promise<void>((resolve) => store.set(sessionID, { cookie: {}, passport: { user: 1 } } as never, () => resolve()));

describe('SessionLogouts', () => {
  it('runs one logout for the requests of a session that ask at the same time, and leaves each without its user', async () => {
    const store = new session.MemoryStore();
    await stored(store, 's1');
    const logouts = { count: 0 };
    const requests = [0, 1, 2, 3].map(() => loggedInRequest(store, 's1', logouts));
    const service = new SessionLogouts();
    await Promise.all(requests.map((request) => service.logOut(request)));
    expect(logouts.count).toBe(1);
    expect(requests.map((request) => request.user)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('does not log out again a session another logout ended after the request loaded it', async () => {
    const store = new session.MemoryStore();
    await stored(store, 's2');
    const logouts = { count: 0 };
    const first = loggedInRequest(store, 's2', logouts);
    const late = loggedInRequest(store, 's2', logouts);
    const service = new SessionLogouts();
    await service.logOut(first);
    await service.logOut(late);
    expect(logouts.count).toBe(1);
    expect(late.user).toBeUndefined();
  });

  it("logs out each session on its own, and tries again after a logout that failed", async () => {
    const store = new session.MemoryStore();
    await stored(store, 'a');
    await stored(store, 'b');
    const logouts = { count: 0 };
    const service = new SessionLogouts();
    const failing = loggedInRequest(store, 'a', logouts, new Error('store down'));
    const waiting = loggedInRequest(store, 'a', logouts);
    await expect(Promise.all([service.logOut(failing), service.logOut(waiting)])).rejects.toThrow('store down');
    await Promise.all([service.logOut(loggedInRequest(store, 'a', logouts)), service.logOut(loggedInRequest(store, 'b', logouts))]);
    expect(logouts.count).toBe(3);
  });
});
