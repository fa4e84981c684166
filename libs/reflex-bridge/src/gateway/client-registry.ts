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
    if (this.byToken.get(token) === client) this.byToken.delete(token);
  }

  get size(): number {
    return this.byToken.size;
  }
}
