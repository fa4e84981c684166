import { describe, expect, it } from '@jest/globals';
import session from 'express-session';
import { SessionEndings } from './session-endings.js';
import { SessionSightings } from './session-sightings.js';
import { SessionStoreObserver } from './session-store-observer.js';

const call = (run: (callback: (error?: unknown, value?: unknown) => void) => void) =>
  new Promise<unknown>((resolve, reject) => run((error, value) => (error ? reject(error as Error) : resolve(value))));

describe('SessionStoreObserver', () => {
  /** A MemoryStore (express-session's own) under observation, holding `sid` logged in as dave. */
  async function observedStore() {
    const endings = new SessionEndings();
    const observer = new SessionStoreObserver(endings, new SessionSightings());
    const store = new session.MemoryStore();
    observer.observe(store);
    const loggedIn = { cookie: { originalMaxAge: null }, passport: { user: 2 } } as unknown as session.SessionData;
    await call((done) => store.set('sid', loggedIn, done));
    return { endings, observer, store, loggedIn };
  }

  it('drops the save of a session that ended meanwhile (a slow route that loaded it before a logout): the logout sticks', async () => {
    const { store, loggedIn } = await observedStore();
    // A slow route loaded the session; a logout in another tab destroys it; the route ends and saves what it loaded.
    await call((done) => store.destroy('sid', done));
    await call((done) => store.set('sid', loggedIn, done));
    // (Before: the save put the session back, user included: its cookie was logged in again.)
    expect(await call((done) => store.get('sid', done))).toBeFalsy();
  });

  it('drops the save of a session another worker ended, and tells the save listeners of the others only', async () => {
    const { endings, observer, store, loggedIn } = await observedStore();
    const told: string[] = [];
    observer.onSave((sessionId) => told.push(sessionId));
    // Another worker destroyed session 'gone' in the shared store, and told this one.
    await endings.report({ sessionId: 'gone', reason: 'logout', remote: true });
    await call((done) => store.set('gone', loggedIn, done));
    await call((done) => store.set('other', loggedIn, done));
    expect({ ended: await call((done) => store.get('gone', done)), other: Boolean(await call((done) => store.get('other', done))), told }).toEqual({
      ended: undefined,
      other: true,
      told: ['other'],
    });
  });
});
