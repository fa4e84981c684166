/**
 * Runs tasks one at a time per client token, in arrival order, while different tokens run concurrently
 * (Reflex's per-token event queue). A failing task never blocks the ones behind it.
 */
export class TokenQueue {
  private readonly tails = new Map<string, Promise<void>>();

  /** Queues `task` behind everything already queued for `token`; resolves when it has run. */
  run(token: string, task: () => Promise<void>): Promise<void> {
    const previous = this.tails.get(token) ?? Promise.resolve();
    const next = previous.then(task).catch(() => undefined);
    this.tails.set(token, next);
    void next.then(() => {
      if (this.tails.get(token) === next) this.tails.delete(token);
    });
    return next;
  }

  /** Tokens with queued or running work (for shutdown and tests). */
  get size(): number {
    return this.tails.size;
  }
}
