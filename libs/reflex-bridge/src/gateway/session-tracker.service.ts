import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Namespace, Socket } from 'socket.io';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import type { EventClient } from '../common/event-client.js';
import { EventPipeline } from '../pipeline/event-pipeline.service.js';
import { StateRegistry } from '../state/state-registry.service.js';
import { AppState } from '../bridge/session/app-state.js';
import { syncAppState } from '../bridge/session/app-state-sync.js';
import { BridgeRunner } from '../bridge/bridge-runner.service.js';
import type { ConnectingSession } from '../security/token-ownership.service.js';
import type { SyntheticRequest } from '../bridge/request/synthetic-request.js';
import { SessionEndings, type SessionEnd } from '../common/session-endings.js';
import { SessionSightings } from '../common/session-sightings.js';
import { LiveListSubscriptions } from '../live/live-list-subscriptions.service.js';
import { RepeatedErrorLog } from '../common/repeated-error-log.js';
import { logText } from '../common/log-text.js';

/** SHA-256 of a cookie header (base64url): equal cookies, equal digests, without sending the cookies anywhere. */
function digestOf(cookieHeader: string): string {
  return createHash('sha256').update(cookieHeader).digest('base64url');
}

/** The server-side message telling every worker that a session ended. */
const SESSION_ENDED = 'rx:session-ended';

/** The server-side message telling the other workers which session a token's browser showed in an upload. */
const BROWSER_SESSION = 'rx:browser-session';

/** How long, and for how many sessions, a session's end is remembered so that hearing it twice acts once. */
const RECENTLY_ENDED_MS = 10_000;
const RECENTLY_ENDED_MAX = 1000;

/** A connected socket, as the tracker needs it. */
export interface TrackedSocket {
  client: EventClient;
  /** The session the socket was last seen in; kept here by the tracker (no map entry per connection). */
  sessionId?: string;
  /** Closes the connection so that the client reconnects by itself and hydrates again (see `SocketConnection`). */
  closeForReconnect(): void;
}

/** Finds the tracked socket of each of a namespace's sockets (the gateway's connection objects). */
export type TrackedSocketOf = (socket: Socket) => TrackedSocket | undefined;

/**
 * Makes a logout reach every live connection of that session on every worker, with no app code beyond
 * calling logout: the tracker knows each local socket's session id; the session store's `destroy`
 * (called by `req.logout()`, `req.session.destroy()` and session regeneration, over HTTP or in an event) is
 * observed and reported to {@link SessionEndings}, relayed to the other workers, and every worker then
 * re-authenticates (`bridge.sessionEndAction: 'reauthenticate'`) or disconnects (`'disconnect'`) the sockets
 * of that session.
 */
@Injectable()
export class SessionTracker implements OnApplicationBootstrap {
  private readonly logger = new Logger('ReflexBridge');
  /**
   * Failures to read a new connection's session, logged within limits: during a session store outage every
   * connection fails the same way, and clients reconnecting make them at the rate the worker accepts connections.
   */
  private readonly trackFailures = new RepeatedErrorLog({ perKind: 5, perWindow: 20, windowMs: 60_000 });
  /** Sessions ended lately (id → when), oldest first. */
  private readonly recentlyEnded = new Map<string, number>();
  private namespace?: Namespace;
  private trackedOf: TrackedSocketOf = () => undefined;
  private clustered = false;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly bridge: BridgeRunner,
    private readonly pipeline: EventPipeline,
    private readonly registry: StateRegistry,
    private readonly endings: SessionEndings,
    private readonly liveLists: LiveListSubscriptions,
    sightings: SessionSightings,
  ) {
    endings.subscribe('connections', (end) => this.endConnections(end));
    sightings.onSeen((client, sessionId) => this.place(client, sessionId));
  }

  /**
   * Runs the auth middleware once on an empty request at startup, so the session store is watched from
   * the start: a logout over HTTP on this worker then reaches the other workers even before any socket
   * connected here.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (!this.options.bridge.authMiddleware?.length) return;
    const probe: EventClient = { token: undefined, sid: '', headers: {}, remoteAddress: '127.0.0.1', emitUpdate: () => undefined, emitError: () => undefined };
    await this.bridge.authenticate(probe).catch((error: Error) => this.logger.warn(`Could not find the session store at startup: ${error.message}`));
  }

  /**
   * Called by the gateway once the socket server exists. The namespace already keeps every socket of this worker,
   * and `trackedOf` finds what the gateway keeps for each: the tracker keeps no map of its own.
   */
  attach(namespace: Namespace, clustered: boolean, trackedOf: TrackedSocketOf): void {
    this.namespace = namespace;
    this.trackedOf = trackedOf;
    this.clustered = clustered;
    if (!clustered) return;
    namespace.on(SESSION_ENDED, (sessionId: unknown) => void this.endings.report({ sessionId: String(sessionId), reason: 'logout', remote: true }));
    namespace.on(BROWSER_SESSION, (token: unknown, cookieDigest: unknown, sessionId: unknown) => {
      if (typeof token !== 'string' || typeof cookieDigest !== 'string' || typeof sessionId !== 'string') return;
      this.followLocally(token, cookieDigest, sessionId === '' ? undefined : sessionId);
    });
  }

  /**
   * An HTTP request sent with the tab's token (an upload) ran in session `sessionId` with cookies `cookieHeader`.
   * When the tab's socket is in another session (the user logged in in another tab since the socket connected),
   * the socket is disconnected: the tab reconnects with its browser's own cookies and goes on with the current
   * user. The socket never takes the request's cookies: whoever knows a tab's token could otherwise move that tab
   * into a session of their own (a login CSRF). The socket's worker does it: on several workers the others are
   * told (over the cluster adapter's Redis pub/sub), with a digest of the cookies rather than the cookies: every
   * worker receives the message, and a client could send every upload with 16 KB of cookies.
   */
  async followBrowserSession(token: string, cookieHeader: string, sessionId: string | undefined): Promise<void> {
    if (!this.options.bridge.authMiddleware?.length) return;
    const cookieDigest = digestOf(cookieHeader);
    if (this.followLocally(token, cookieDigest, sessionId)) return;
    if (this.clustered) this.namespace?.serverSideEmit(BROWSER_SESSION, token, cookieDigest, sessionId ?? '');
  }

  /** {@link followBrowserSession} for this worker's sockets of `token`; false when none is here. */
  private followLocally(token: string, cookieDigest: string, sessionId: string | undefined): boolean {
    let found = false;
    for (const socket of this.trackedSockets()) {
      if (socket.client.token !== token) continue;
      found = true;
      // Same session, or the same cookies: nothing went stale.
      if (sessionId !== undefined && socket.sessionId === sessionId) continue;
      if (digestOf(this.bridge.cookieHeaderOf(socket.client)) === cookieDigest) continue;
      socket.closeForReconnect();
    }
    return found;
  }

  /**
   * Learns a new socket's session by running the auth middleware once (when configured). Returns the session id
   * the middleware found (`known: false` when it failed, so the session is unknown).
   */
  async track(socket: TrackedSocket): Promise<ConnectingSession> {
    if (!this.options.bridge.authMiddleware?.length) return { known: true };
    try {
      const request = await this.bridge.authenticate(socket.client);
      return { known: true, sessionId: typeof request?.sessionID === 'string' && request.sessionID !== '' ? request.sessionID : undefined };
    } catch (error) {
      const message = logText((error as Error | undefined)?.message, 500);
      // The app closed its session store during the shutdown (after the drain's grace): no fault, and the gateway
      // does not admit the socket anyway.
      if (this.pipeline.shuttingDown) {
        this.logger.debug(`Could not read the session of a connection during the shutdown: ${message}`);
        return { known: false };
      }
      const verdict = this.trackFailures.take(message);
      if (verdict.log) {
        const before = verdict.notLoggedBefore > 0 ? ` (${verdict.notLoggedBefore} such failures not logged before this one)` : '';
        this.logger.warn(`Could not read the session of a new connection: ${message}${before}`);
      }
      return { known: false };
    }
  }

  /**
   * The session's sockets on this worker are re-authenticated or closed; an end this worker saw in its own session
   * store's `destroy` is relayed to the others (a deletion in the store itself is heard by every worker).
   */
  private async endConnections(end: SessionEnd): Promise<void> {
    if (end.reason === 'logout' && !end.remote && this.clustered) this.namespace?.serverSideEmit(SESSION_ENDED, end.sessionId);
    await this.endLocally(end.sessionId);
  }

  private async endLocally(sessionId: string): Promise<void> {
    // One end can be heard twice (the store's destroy and its keyspace notification): act once.
    const now = Date.now();
    const endedAt = this.recentlyEnded.get(sessionId);
    if (endedAt !== undefined && now - endedAt < RECENTLY_ENDED_MS) return;
    this.recentlyEnded.set(sessionId, now);
    if (this.recentlyEnded.size > RECENTLY_ENDED_MAX) this.recentlyEnded.delete(this.recentlyEnded.keys().next().value!);
    const affected = this.trackedSockets().filter((socket) => socket.sessionId === sessionId);
    if (this.options.bridge.sessionEndAction === 'disconnect') {
      for (const socket of affected) socket.closeForReconnect();
      return;
    }
    // The session's user is gone for every one of them now: their live lists show no one's private rows from here,
    // not once they were re-authenticated (each waits for its token's running events).
    for (const socket of affected) this.liveLists.changeUser(socket.client, undefined);
    // Not re-authenticated once the shutdown began: the auth chain reads the app's session store and user providers,
    // which the app may have closed already (the sockets close after every app's onModuleDestroy). The tab reconnects
    // elsewhere and is authenticated there.
    if (this.pipeline.shuttingDown) return;
    // Side by side: each waits for its own token's running events only. One after another, a tab whose page showed
    // nothing of the logout (its AppState still said logged in) waited for every other tab's events before it,
    // for as long as one of them ran (an upload, a slow handler).
    await Promise.all(
      affected.map((socket) => this.reauthenticate(socket).catch((error: Error) => this.logger.warn(`Re-authenticating a connection failed: ${error.message}`))),
    );
  }

  /**
   * Runs the auth chain again for the socket, scopes its live lists to the user it has now, and pushes fresh
   * `AppState` snapshots to it. When the chain fails, the live lists are scoped to no user: the session's user is
   * gone either way, and rows only it could see must stop arriving.
   */
  private async reauthenticate(socket: TrackedSocket): Promise<void> {
    const token = socket.client.token;
    if (!token) {
      const request = await this.authenticate(socket);
      this.liveLists.changeUser(socket.client, request?.user, request);
      return;
    }
    // Read behind the token's running event, which may be the very one that ended the session: a login that
    // regenerates it hands the socket the new session's cookie when it ends. Read before, with the ended session's
    // cookie, the socket was given no user (and a session id nobody has) just after logging in: its live lists,
    // subscribed again as the new user, went back to no user, and the new session's logout never reached them.
    // The snapshots are pushed in the same turn of the queue: pushed behind the events queued meanwhile, they undid
    // what those did (a login in this tab showed the page logged out).
    await this.pipeline.runQueued(token, async (modify) => {
      const request = await this.authenticate(socket);
      this.liveLists.changeUser(socket.client, request?.user, request);
      if (!request) return;
      for (const definition of this.registry.states()) {
        if (!(definition.cls.prototype instanceof AppState)) continue;
        await modify(definition.cls, (state) => syncAppState(state as AppState, request, this.options), socket.client);
      }
    });
  }

  /** The auth chain on the socket's request; when it fails, its live lists are scoped to no user first. */
  private authenticate(socket: TrackedSocket): Promise<SyntheticRequest | undefined> {
    return this.bridge.authenticate(socket.client).catch((error: unknown) => {
      this.liveLists.changeUser(socket.client, undefined);
      throw error;
    });
  }

  /** This worker's connected sockets, as the gateway tracks them (sockets still being admitted included). */
  private trackedSockets(): TrackedSocket[] {
    const tracked: TrackedSocket[] = [];
    for (const socket of this.namespace?.sockets.values() ?? []) {
      const found = this.trackedOf(socket);
      if (found) tracked.push(found);
    }
    return tracked;
  }

  /** A sighting of a socket of this worker: its session, kept on what the gateway keeps for it. */
  private place(client: EventClient, sessionId: string | undefined): void {
    const socket = this.namespace?.sockets.get(client.sid);
    const tracked = socket ? this.trackedOf(socket) : undefined;
    if (tracked && tracked.client === client) tracked.sessionId = sessionId || undefined;
  }

}
