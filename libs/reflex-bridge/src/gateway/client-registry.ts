import { Injectable } from '@nestjs/common';
import type { EventClient } from '../common/event-client.js';
import { ConnectionLifecycle } from '../common/connection-lifecycle.js';

/**
 * Which live socket holds which client token on this worker, so out-of-band updates find their client and
 * a second socket presenting a held token (a duplicated tab) is given a new one.
 */
@Injectable()
export class ClientRegistry {
  private readonly byToken = new Map<string, EventClient>();
  /** Sockets waiting for a token's holder to leave (see {@link whenFree}), by token. */
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(connections: ConnectionLifecycle) {
    connections.onClosed((client) => {
      if (client.token) this.unbind(client.token, client);
    });
  }

  /** The client holding `token` on this worker, if connected. */
  get(token: string): EventClient | undefined {
    return this.byToken.get(token);
  }

  /** True when another live client already holds `token`. */
  isHeldByOther(token: string, client: EventClient): boolean {
    const holder = this.byToken.get(token);
    return holder !== undefined && holder !== client;
  }

  bind(token: string, client: EventClient): void {
    this.byToken.set(token, client);
  }

  /** Forgets `token` if `client` still holds it (a newer socket may have taken it over). */
  unbind(token: string, client: EventClient): void {
    if (this.byToken.get(token) !== client) return;
    this.byToken.delete(token);
    const waiters = this.waiting.get(token);
    if (waiters) for (const wake of [...waiters]) wake();
  }

  /**
   * Resolves `true` once no client other than `client` holds `token` (at once when none does), `false` when one
   * still does after `withinMs`. A reloaded tab's new socket can arrive before its old socket is seen to close;
   * this gives the old one that long to leave. The caller must check again before it binds: several sockets may
   * have waited for the same holder.
   */
  whenFree(token: string, client: EventClient, withinMs: number): Promise<boolean> {
    if (!this.isHeldByOther(token, client)) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiters = this.waiting.get(token) ?? new Set<() => void>();
      this.waiting.set(token, waiters);
      const settle = (free: boolean) => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0 && this.waiting.get(token) === waiters) this.waiting.delete(token);
        resolve(free);
      };
      const wake = () => settle(true);
      const timer = setTimeout(() => settle(false), withinMs);
      timer.unref();
      waiters.add(wake);
    });
  }

  /** Whether sockets wait for the holder of `token` to leave (see {@link ClientRegistry.whenFree}; for tests). */
  hasWaiters(token: string): boolean {
    return this.waiting.has(token);
  }

  /** The tokens held on this worker (a live view: copy it before awaiting). */
  tokens(): IterableIterator<string> {
    return this.byToken.keys();
  }

  get size(): number {
    return this.byToken.size;
  }
}
