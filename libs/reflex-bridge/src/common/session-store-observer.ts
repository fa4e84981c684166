import { Injectable } from '@nestjs/common';
import { SessionEndings } from './session-endings.js';
import { SessionSightings } from './session-sightings.js';

/** A session store as express-session uses it (only `destroy` and `set` matter here). */
interface ObservedStore {
  destroy(sid: string, callback?: (error?: unknown) => void): void;
  set?(sid: string, session: unknown, callback?: (error?: unknown) => void): void;
}

/** Told of every save of a session that has not ended, as it starts: `store` is the store it goes to. */
type SaveListener = (sessionId: string, store: ObservedStore) => void;

/**
 * Notices the end of every session of a session store: wraps the store's `destroy`, which express-session calls for
 * `req.session.destroy()` and `req.session.regenerate()` (passport's `req.logout()` and login regenerate), over HTTP
 * or inside an event, and reports each successful one to {@link SessionEndings}. One store, wrapped once, however
 * many requests point to it.
 *
 * Wraps its `set` too, which express-session calls when any request (an app route as well as a bridged event) ends
 * with a changed session. express-session has no compare-and-set: a request that loaded the session before a logout
 * (here or on another worker) and ends after it would write the ended session back, user included, and its cookie
 * would be logged in again for the session's whole lifetime. A save of a session whose end this worker has heard of
 * is therefore dropped (answered as done: the session is gone, as its owner asked); the others are told to the
 * save listeners ({@link onSave}), so that an end heard after a save was sent can destroy the session again.
 */
@Injectable()
export class SessionStoreObserver {
  private readonly observed = new WeakSet<object>();
  private readonly saveListeners: SaveListener[] = [];

  constructor(
    private readonly endings: SessionEndings,
    sightings: SessionSightings,
  ) {
    // Every store a socket's session was seen in (at startup, connect and bridged events) is observed.
    sightings.onSeen((_client, _sessionId, store) => this.observe(store));
  }

  /** Calls `listener` as each save of a session that has not ended starts, in any observed store. */
  onSave(listener: SaveListener): void {
    this.saveListeners.push(listener);
  }

  /** Starts observing `store` (a request's `sessionStore`); anything else, or a store already observed, is ignored. */
  observe(store: unknown): void {
    if (!store || typeof (store as Partial<ObservedStore>).destroy !== 'function' || this.observed.has(store as object)) return;
    this.observed.add(store as object);
    const target = store as ObservedStore;
    const destroy = target.destroy.bind(target);
    target.destroy = (sid: string, callback?: (error?: unknown) => void) => {
      destroy(sid, (error?: unknown) => {
        if (error) return callback?.(error);
        // The caller (a logout) continues once the caches forgot the session: its answer never races a fast-auth
        // event still authenticated by the old snapshot, here or on another worker.
        void this.endings.report({ sessionId: sid, reason: 'logout', remote: false }).then(() => callback?.());
      });
    };
    if (typeof target.set !== 'function') return;
    const set = target.set.bind(target);
    target.set = (sid: string, session: unknown, callback?: (error?: unknown) => void): unknown => {
      // Session ids are never given out twice: a save of an ended one is a request that loaded it before the end.
      if (typeof sid === 'string' && this.endings.hasEnded(sid)) return void queueMicrotask(() => callback?.());
      if (typeof sid === 'string') for (const listener of this.saveListeners) listener(sid, target);
      return set(sid, session, callback);
    };
  }
}
