import { Injectable } from '@nestjs/common';
import type { EventClient } from './event-client.js';

type SeenListener = (client: EventClient, sessionId: string | undefined, store: unknown) => void;

/**
 * "This socket is in that session, kept in that store", reported each time the auth middleware ran for a socket
 * (at connect, and on bridged events that ran it). The connection tracker follows which sockets a session has;
 * the session store observer starts watching the store for logouts.
 */
@Injectable()
export class SessionSightings {
  private readonly listeners: SeenListener[] = [];

  /** Calls `listener` for every sighting from now on. */
  onSeen(listener: SeenListener): void {
    this.listeners.push(listener);
  }

  /** Reports that the auth middleware found `client` in session `sessionId` (undefined: none) of `store`. */
  seen(client: EventClient, sessionId: string | undefined, store: unknown): void {
    for (const listener of this.listeners) listener(client, sessionId, store);
  }
}
