import { Injectable, Logger, Optional } from '@nestjs/common';
import { SessionEndings, type SessionEnd } from '../../common/session-endings.js';
import { SessionStoreObserver } from '../../common/session-store-observer.js';
import { logText } from '../../common/log-text.js';
import { DEADLINE_PASSED, withinDeadline } from '../../common/deadline.js';

/** A session store as express-session uses it (only `destroy` matters here). */
interface DestroyableStore {
  destroy(sid: string, callback?: (error?: unknown) => void): void;
}

/**
 * How long after a bridged event ended its session may still be ended by another worker without this worker having
 * heard of it: the delay of the cluster's "session ended" message, milliseconds usually, seconds on a worker
 * stalled by a long task or a garbage collection.
 */
const SAVE_SUSPECT_MS = 30_000;

/**
 * How long the second `destroy` is waited for. The caches stage waits for it, and the connections of that session are
 * re-authenticated after that stage: a session store that does not answer (a frozen Redis) must not hold them for good.
 */
const DESTROY_WAIT_MS = 5_000;

/** A session saved again sooner than this after it took its place in the eviction order keeps that place. */
const REORDER_AFTER_MS = 1_000;

/** How many sessions are remembered (about 100 bytes each); past it, the oldest are forgotten first. */
const SAVES_MAX = 10_000;

/**
 * The sessions this worker's bridged events, and the app's routes through an observed store, may have saved lately, and in which store: when another worker reports
 * one of them ended, or it was deleted in the store itself, the session is destroyed again here. An event reads its session, runs, and saves it when it
 * ends; a logout on another worker in between is caught by {@link SessionEndings.endedSince} only if its message
 * arrived before the end. Arriving after, the save had already put the ended session back into the store, user
 * included: the logout was undone for every cookie of that session for the session's whole lifetime. The second
 * `destroy` goes through the same store after that save, so it lands after it.
 */
@Injectable()
export class RecentSessionSaves {
  private readonly logger = new Logger('ReflexBridge');
  /** Session id → the store its event saved it in, when, and when it took its place in the order; oldest first. */
  private readonly saves = new Map<string, { store: DestroyableStore; at: number; placedAt: number }>();

  constructor(endings: SessionEndings, @Optional() observer?: SessionStoreObserver) {
    // In the caches stage: the session is gone again before the connections of that session are re-authenticated.
    endings.subscribe('caches', (end) => this.destroyIfSaved(end));
    // Every save in an observed store, the app's own routes' too: they load a session and save it as they end, as
    // an event does.
    observer?.onSave((sessionId, store) => this.saving(sessionId, store));
  }

  /** An event of session `sessionId`, kept in `store`, is ending: its session may be saved now. */
  saving(sessionId: unknown, store: unknown): void {
    if (typeof sessionId !== 'string' || sessionId === '' || typeof (store as Partial<DestroyableStore> | undefined)?.destroy !== 'function') return;
    const now = Date.now();
    const known = this.saves.get(sessionId);
    // A session saved again within a second of taking its place keeps it: the order is oldest first to within that
    // second, where a delete and re-insert on each of a busy tab's events cost about 1,000 instructions.
    if (known !== undefined && now - known.placedAt < REORDER_AFTER_MS) {
      known.store = store as DestroyableStore;
      known.at = now;
      return;
    }
    if (known !== undefined) this.saves.delete(sessionId);
    this.saves.set(sessionId, { store: store as DestroyableStore, at: now, placedAt: now });
    if (this.saves.size > SAVES_MAX) this.saves.delete(this.saves.keys().next().value!);
  }

  /** Another worker, or the store itself, ended a session this worker saved lately: it is destroyed again. */
  private async destroyIfSaved(end: SessionEnd): Promise<void> {
    // This worker's own logouts come after its own saves in the store, or stop them (`endedSince`, and the store
    // observer drops later saves): its saves so far need nothing more, even when another worker's destroy-again of
    // the same session reaches it later. A deletion in the store itself (the session store watcher) is no more
    // ordered with this worker's saves than another worker's.
    if (!end.remote && end.reason !== 'deleted') {
      this.saves.delete(end.sessionId);
      return;
    }
    const saved = this.saves.get(end.sessionId);
    if (!saved) return;
    // Acted on once: the destroy below is reported to every worker in turn, and must not bounce between two.
    this.saves.delete(end.sessionId);
    if (Date.now() - saved.at > SAVE_SUSPECT_MS) return;
    const destroyed = new Promise<void>((resolve, reject) => saved.store.destroy(end.sessionId, (error) => (error ? reject(error as Error) : resolve())));
    await withinDeadline(destroyed, DESTROY_WAIT_MS).catch((error: unknown) => {
      const reason = error === DEADLINE_PASSED ? `no answer within ${DESTROY_WAIT_MS} ms` : logText((error as Error | undefined)?.message ?? String(error), 500);
      this.logger.warn(`A session that ended elsewhere, and that an event here may have saved back, could not be destroyed again: ${reason}`);
    });
  }
}
