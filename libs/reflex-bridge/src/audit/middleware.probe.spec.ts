import { describe, expect, it } from '@jest/globals';
import session from 'express-session';
import cors from 'cors';
import { probeCorsMiddleware, probeSessionMiddleware, type SessionProbe } from './middleware.probe.js';

/** The probe of a middleware expected to behave as a session middleware (not to fail). */
async function probeSucceeding(...args: Parameters<typeof probeSessionMiddleware>): Promise<SessionProbe | undefined> {
  const probe = await probeSessionMiddleware(...args);
  if (probe && 'failure' in probe) throw new Error(`the probe failed: ${probe.failure}`);
  return probe;
}

describe('probeSessionMiddleware (real express-session)', () => {
  it("reports the cookie's flags, name and store, and saves no session", async () => {
    const store = new session.MemoryStore();
    const middleware = session({ name: 'app.sid', secret: 'kL9#qv2!Zp0@wX7$rT4^yB1&nM6*cD3(', store, resave: false, saveUninitialized: true, cookie: { secure: 'auto', httpOnly: true, sameSite: 'strict' } });
    const probe = await probeSessionMiddleware(middleware);
    expect(probe).toEqual({ cookie: { secure: true, httpOnly: true, sameSite: 'strict' }, storeName: 'MemoryStore', cookieName: 'app.sid', acceptedCommonSecret: undefined, refusedSecrets: [] });
    const count = await new Promise<number>((resolve) => store.length((_error, length) => resolve(length ?? -1)));
    expect(count).toBe(0);
  });

  it('finds a well-known secret among several', async () => {
    const middleware = session({ secret: ['a-real-looking-secret-of-some-length-0123', 'keyboard cat'], resave: false, saveUninitialized: false });
    expect((await probeSucceeding(middleware))?.acceptedCommonSecret).toBe('keyboard cat');
  });

  it("names the secrets to check that the middleware refuses (fast auth's), whatever the store answers", async () => {
    const current = 'the-current-secret-of-the-app-0123456789';
    const retired = 'a-retired-secret-of-the-app-9876543210';
    const middleware = session({ secret: [current], resave: false, saveUninitialized: false });
    expect((await probeSucceeding(middleware, [current, retired]))?.refusedSecrets).toEqual([1]);
    expect((await probeSucceeding(session({ secret: [current, retired], resave: false, saveUninitialized: false }), [retired, current]))?.refusedSecrets).toEqual([]);
    // A store that answers at once, with no such session: the middleware has made a new id before it returns.
    class SyncStore extends session.Store {
      get(_id: string, callback: (error: unknown, session?: session.SessionData | null) => void): void {
        callback(null, null);
      }
      set(_id: string, _session: session.SessionData, callback?: (error?: unknown) => void): void {
        callback?.();
      }
      destroy(_id: string, callback?: (error?: unknown) => void): void {
        callback?.();
      }
    }
    const syncStore = session({ secret: current, store: new SyncStore(), resave: false, saveUninitialized: false });
    expect((await probeSucceeding(syncStore, [current, retired]))?.refusedSecrets).toEqual([1]);
  });

  it('answers undefined for a middleware that is not a session middleware', async () => {
    expect(await probeSessionMiddleware((_req, _res, next) => next())).toBeUndefined();
  });

  it("answers the failure of a middleware that fails a new request: express-session without a secret, or one that throws", async () => {
    const noSecret = session({ secret: undefined as unknown as string, resave: false, saveUninitialized: false });
    expect(await probeSessionMiddleware(noSecret)).toEqual({ failure: 'secret option required for sessions' });
    expect(
      await probeSessionMiddleware(() => {
        throw new Error('boom');
      }),
    ).toEqual({ failure: 'boom' });
  });
});

describe('probeCorsMiddleware (the cors package)', () => {
  it('reports an unlisted origin allowed with credentials, and nothing for a list', async () => {
    expect(await probeCorsMiddleware(cors({ origin: true, credentials: true }))).toEqual({ allowOrigin: 'https://audit-probe.invalid', credentials: true });
    expect(await probeCorsMiddleware(cors())).toEqual({ allowOrigin: '*', credentials: false });
    expect(await probeCorsMiddleware(cors({ origin: ['https://app.example.com'], credentials: true }))).toBeUndefined();
  });
});
