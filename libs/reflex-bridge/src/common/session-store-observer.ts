import { Injectable } from '@nestjs/common';
import { SessionEndings } from './session-endings.js';
import { SessionSightings } from './session-sightings.js';

/** A session store as express-session uses it (only `destroy` matters here). */
interface DestroyableStore {
  destroy(sid: string, callback?: (error?: unknown) => void): void;
}

/**
 * Notices the end of every session of a session store: wraps the store's `destroy`, which express-session calls for
 * `req.session.destroy()` and `req.session.regenerate()` (passport's `req.logout()` and login regenerate), over HTTP
 * or inside an event, and reports each successful one to {@link SessionEndings}. One store, wrapped once, however
 * many requests point to it.
 */
@Injectable()
export class SessionStoreObserver {
  private readonly observed = new WeakSet<object>();

  constructor(
    private readonly endings: SessionEndings,
    sightings: SessionSightings,
  ) {
    // Every store a socket's session was seen in (at startup, connect and bridged events) is observed.
    sightings.onSeen((_client, _sessionId, store) => this.observe(store));
  }

  /** Starts observing `store` (a request's `sessionStore`); anything else, or a store already observed, is ignored. */
  observe(store: unknown): void {
    if (!store || typeof (store as Partial<DestroyableStore>).destroy !== 'function' || this.observed.has(store as object)) return;
    this.observed.add(store as object);
    const target = store as DestroyableStore;
    const destroy = target.destroy.bind(target);
    target.destroy = (sid: string, callback?: (error?: unknown) => void) => {
      destroy(sid, (error?: unknown) => {
        if (error) return callback?.(error);
        // The caller (a logout) continues once the caches forgot the session: its answer never races a fast-auth
        // event still authenticated by the old snapshot, here or on another worker.
        void this.endings.report({ sessionId: sid, reason: 'logout', remote: false }).then(() => callback?.());
      });
    };
  }
}
