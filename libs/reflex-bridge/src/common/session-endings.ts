import { Injectable, Logger } from '@nestjs/common';

/**
 * Why a session ended: `logout` when the app ended it (logout, `session.destroy()`, regeneration: the session
 * store's `destroy` ran); `deleted` when it was deleted, expired or evicted in the session store itself.
 */
export type SessionEndReason = 'logout' | 'deleted';

/** One session's end, as reported to {@link SessionEndings}. */
export interface SessionEnd {
  readonly sessionId: string;
  readonly reason: SessionEndReason;
  /** True when another worker saw the end and told this one (its shared caches are already cleared). */
  readonly remote: boolean;
}

/**
 * Who hears an end first: `caches` forget the session's snapshots before `connections` re-authenticate or close
 * its sockets, so nothing re-reads a stale snapshot.
 */
export type SessionEndStage = 'caches' | 'connections';

type SessionEndListener = (end: SessionEnd) => void | Promise<void>;

/**
 * How many of the latest ends {@link SessionEndings.endedSince} remembers (about 100 bytes each): an event that
 * runs across more session ends than this on its worker may not learn that its own session was one of them.
 */
const RECENT_ENDS_MAX = 10_000;

/**
 * The one signal for "a session ended". Whoever notices an end reports it here (the bridge watching the session
 * store's `destroy`, the session store watcher, the cluster link relaying another worker's report); whoever keeps
 * something per session subscribes (the event cache, the connection tracker).
 */
@Injectable()
export class SessionEndings {
  private readonly logger = new Logger('ReflexBridge');
  private readonly listeners: Record<SessionEndStage, SessionEndListener[]> = { caches: [], connections: [] };
  /** Ends reported so far on this worker: the marks of {@link mark}. */
  private ends = 0;
  /** The latest ends (session id → its mark), oldest first. */
  private readonly recent = new Map<string, number>();

  /** Calls `listener` for every end reported from now on, in `stage`. */
  subscribe(stage: SessionEndStage, listener: SessionEndListener): void {
    this.listeners[stage].push(listener);
  }

  /**
   * Reports an end. Resolves once the caches have forgotten the session, so a logout can wait for that before it
   * answers; the connections act after, without being waited for (re-authenticating a socket queues behind its
   * token's running event, which may be the very event that logged out). A listener's failure is logged and
   * does not stop the others.
   */
  async report(end: SessionEnd): Promise<void> {
    this.recent.delete(end.sessionId);
    this.recent.set(end.sessionId, ++this.ends);
    if (this.recent.size > RECENT_ENDS_MAX) this.recent.delete(this.recent.keys().next().value!);
    await this.notify('caches', end);
    void this.notify('connections', end);
  }

  /** A mark to take before reading a session, for {@link endedSince}. */
  mark(): number {
    return this.ends;
  }

  /**
   * True when `sessionId`'s end was reported after `mark` was taken (within the latest {@link RECENT_ENDS_MAX}
   * ends): whatever was read of that session since then is of a session that no longer exists.
   */
  endedSince(sessionId: string, mark: number): boolean {
    if (mark === this.ends) return false;
    const endedAt = this.recent.get(sessionId);
    return endedAt !== undefined && endedAt > mark;
  }

  /**
   * True when `sessionId`'s end was reported on this worker (its own, or another worker's it heard of), within the
   * latest {@link RECENT_ENDS_MAX} ends. A session id is never given out again, so a save of it now would only put an
   * ended session back.
   */
  hasEnded(sessionId: string): boolean {
    return this.recent.has(sessionId);
  }

  private async notify(stage: SessionEndStage, end: SessionEnd): Promise<void> {
    await Promise.all(
      this.listeners[stage].map(async (listener) => {
        try {
          await listener(end);
        } catch (error) {
          this.logger.warn(`Acting on the end of a session failed: ${(error as Error)?.message ?? String(error)}`);
        }
      }),
    );
  }
}
