import { isPromise, type MaybePromise } from '../common/maybe-promise.js';

/**
 * Runs tasks one at a time per client token, in arrival order, while different tokens run concurrently
 * (Reflex's per-token event queue). A failing task never blocks the ones behind it.
 *
 * A task for a token with nothing queued starts at once and may finish synchronously: then the queue never
 * holds it (no promise at all, the common case of an event handled without I/O). A task that goes async
 * becomes the token's tail before anything else can arrive, so later tasks still wait for it.
 */
export class TokenQueue {
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Runs `task` now when nothing is queued for `token`, else behind everything already queued. Returns
   * nothing when the task finished synchronously, else a promise that resolves when it has run.
   */
  run(token: string, task: () => MaybePromise<void>): MaybePromise<void> {
    const previous = this.tails.get(token);
    if (previous) return this.track(token, previous.then(task));
    let pending: MaybePromise<void>;
    try {
      pending = task();
    } catch {
      return;
    }
    return isPromise(pending) ? this.track(token, pending) : undefined;
  }

  /** Queues `task` behind everything queued for `token`, starting it no sooner than the next microtask. */
  enqueue(token: string, task: () => MaybePromise<void>): Promise<void> {
    return this.track(token, (this.tails.get(token) ?? Promise.resolve()).then(task));
  }

  /** True while `token` has queued or running asynchronous work. */
  has(token: string): boolean {
    return this.tails.has(token);
  }

  /** Tokens with queued or running work (for shutdown and tests). */
  get size(): number {
    return this.tails.size;
  }

  private track(token: string, pending: Promise<void>): Promise<void> {
    const next = pending.catch(() => undefined);
    this.tails.set(token, next);
    void next.then(() => {
      if (this.tails.get(token) === next) this.tails.delete(token);
    });
    return next;
  }
}
