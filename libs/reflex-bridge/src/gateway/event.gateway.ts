import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Inject, Logger, Optional, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { type OnGatewayConnection, type OnGatewayDisconnect, type OnGatewayInit, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { BRIDGE_ERROR_EVENT, type BridgeErrorPayload } from '../protocol/bridge-error.js';
import type { StateUpdate } from '../protocol/state-update.js';
import { EventPipeline } from '../pipeline/event-pipeline.service.js';
import type { EventClient } from '../common/event-client.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { ClientRegistry } from './client-registry.js';
import { ClientErrorLog } from './client-error-log.js';
import { ClosedFrameLog } from './closed-frame-log.js';
import { ConnectionLifecycle } from '../common/connection-lifecycle.js';
import { SessionTracker } from './session-tracker.service.js';
import { ClusterLink } from './cluster-link.js';
import { CLUSTER_LINK } from './cluster-link.provider.js';
import { eventGatewayOptions } from './event-gateway.options.js';
import { isSingleProcessAdapter } from './single-process-adapter.js';
import { releaseEmptiedSendCallbacks } from './engine-send-callbacks.js';
import { SocketConnection, type SocketConnectionContext } from './socket-connection.js';
import { connectionLimitSettings } from '../security/connection-limits.js';
import { WorkerOutputBudget } from '../security/worker-output-budget.js';
import { isClientToken } from '../protocol/client-token.js';
import { OriginPolicy } from '../security/origin-policy.js';
import { addressKeyingOf } from '../security/client-address.js';
import { refuseSessionIdRequests } from '../security/engine-session-id.guard.js';
import { noStoreEngineAnswers } from '../security/no-store.engine-middleware.js';
import { closeAfterEngineAnswers } from '../security/close-after-engine-answers.engine-middleware.js';
import { closeAfterEventPathRequests } from '../security/pipelined-event-requests.guard.js';
import { closePipelinesPastBound } from '../security/pipelined-requests.guard.js';
import { destroyUnansweredUpgrades } from '../security/unanswered-upgrades.guard.js';
import { CLOSE_GRACE_MS, cutClosedConnections } from '../security/close-grace.js';
import { closeOnStrayEnginePackets } from '../security/engine-packet.guard.js';
import { tapEnginePackets } from '../common/engine-packet.taps.js';
import { type ControlFrameConnection, limitWebSocketControlFrames } from '../security/websocket-control-frames.guard.js';
import { UnfinishedMessageBudget } from '../security/unfinished-message.budget.js';
import { AddressConnectionLimit } from '../security/address-connection-limit.js';
import { TokenOwnership, type ConnectingSession } from '../security/token-ownership.service.js';
import { OutageLog } from '../common/outage-log.js';
import { drainBeforeClose } from './drain-before-close.js';
import { offerSharedDisconnect } from './shared-disconnect.listener.js';
import { CLOSING_ACK_EVENT, CLOSING_ACK_WAIT_MS, ClosingNotices } from './closing-notice.js';

function tokenRoom(token: string): string {
  return `rx:token:${token}`;
}

/** On a namespace: the gateway serving it, to tell a second module of the same app on the same path. */
const NAMESPACE_GATEWAY = Symbol('ReflexBridgeGateway');

/**
 * A message's payload as Nest's Socket.IO adapter maps it: the acknowledgement callback (a trailing function)
 * left off, one argument as itself, several as an array.
 */
function payloadOf(args: unknown[]): unknown {
  const count = typeof args[args.length - 1] === 'function' ? args.length - 1 : args.length;
  return count <= 1 ? args[0] : args.slice(0, count);
}

/**
 * The listeners of the cold messages, made once per gateway and shared by every socket: Socket.IO calls a
 * listener with the socket as `this`, so no socket needs closures of its own for them.
 */
function coldMessageListeners(gateway: EventGateway): Record<'client_error' | 'ping' | typeof CLOSING_ACK_EVENT, (this: Socket, ...args: unknown[]) => void> {
  return {
    [CLOSING_ACK_EVENT](this: Socket): void {
      gateway.closingNotices.acknowledged(this);
    },
    client_error(this: Socket, ...args: unknown[]): void {
      gateway.onClientError(this, payloadOf(args));
    },
    ping(this: Socket): void {
      const { event, data } = gateway.onPing();
      this.emit(event, data);
    },
  };
}

/** The connections of the namespace's sockets (read when the worker's output budget looks at every one). */
function* connectionsOf(namespace: Namespace): Iterable<SocketConnection> {
  for (const socket of namespace.sockets.values()) {
    const connection = SocketConnection.of(socket);
    if (connection) yield connection;
  }
}

/**
 * The owner each socket's token had when its handshake was answered (read then, see the gateway's `afterInit`), for
 * admission's first ownership check: one read of the owner entry per connection (`StateStore.readEntry`, a few dozen
 * bytes, where reading the whole state brought up to `maxStateBytes`).
 */
const handshakeOwners = new WeakMap<Socket, string | undefined>();

/**
 * Milliseconds a socket whose admission failed is kept before its connection is closed. Closed at once, a tab would
 * reconnect at once (`state.js` reconnects after a lost transport with no backoff): a failure that lasts made a
 * tight loop of handshakes. Ended with Socket.IO's DISCONNECT instead (`io server disconnect`), the tab stayed
 * offline until it was shown again or clicked. `state.js`'s own backoff peaks at 2 s: the same pace.
 */
export const ADMISSION_RETRY_CLOSE_MS = 2_000;

/** The `connect_error` message of a handshake refused because the shutdown began. */
const SERVER_STOPPING_MESSAGE = 'The server is shutting down; connect again (to another worker, or to this one restarted).';

/**
 * Refuses a handshake with a Socket.IO CONNECT_ERROR carrying `{ code }`: a Socket.IO client reports it as
 * `connect_error`, and `state.js` tries again on its own backoff. Socket.IO queues the refusal on the next tick, then
 * keeps the connection open until its connectTimeout (45 s) while it counts against no budget (no connection of the
 * gateway exists); Socket.IO clients close it themselves on the refusal: closed after it (Engine.IO sends what is
 * queued first).
 */
function refuseHandshake(socket: Socket, next: (error?: Error) => void, message: string, code: string): void {
  const error = new Error(message);
  (error as Error & { data: unknown }).data = { code };
  next(error);
  process.nextTick(() => socket.conn.close());
}

function flattenHeaders(headers: IncomingMessage['headers']): Readonly<Record<string, string>> {
  // Node gives a request's headers as strings (only `set-cookie` can be a list): the handshake's own object is
  // then used as it is, and no connection holds a copy of it.
  let flat: Record<string, string> | undefined;
  for (const name in headers) {
    const value = headers[name];
    if (typeof value === 'string') continue;
    flat ??= Object.assign({}, headers) as Record<string, string>;
    if (value === undefined) delete flat[name];
    else flat[name] = value.join(', ');
  }
  return flat ?? (headers as Record<string, string>);
}

/**
 * The `/_event` Socket.IO endpoint: a Nest `@WebSocketGateway` whose options (path, namespace, frame limit, ping
 * timings, CORS, origin check) come from the module options, created by whichever adapter the app installed
 * (`app.useWebSocketAdapter`, Nest's `IoAdapter` by default). Kept thin: token checks and bookkeeping, then
 * hand-off to the {@link EventPipeline}.
 *
 * The hot `event` listener is attached to each socket directly in {@link handleConnection}: routing it through
 * `@SubscribeMessage` would cost several promises per event and undo the synchronous event path. The cold
 * messages (`client_error`, `ping`) are attached there too, as listeners shared by every socket:
 * `@SubscribeMessage` would give every connection its own RxJS subscriptions (about 9 KB of heap per idle
 * connection for these two messages).
 *
 * The module registers a subclass per `forRoot`/`forRootAsync` (see `ReflexBridgeModule`): Nest reads a gateway's
 * options when the app initialises, after every provider is built, so the constructor can give that subclass
 * options resolved asynchronously.
 * @publicApi
 */
@WebSocketGateway()
export class EventGateway implements OnGatewayInit<Namespace>, OnGatewayConnection<Socket>, OnGatewayDisconnect<Socket>, OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('ReflexBridge');
  private readonly clientErrors = new ClientErrorLog(this.logger);
  /** Another of the app's gateways already serves this namespace (the module imported twice): see {@link onModuleInit}. */
  private sharedNamespace = false;
  /** The shutdown drain, begun once (see {@link drain}). */
  private drained?: Promise<void>;
  /**
   * The session reads of the connections being admitted (the app's auth middleware on their handshake), while they
   * run: the drain waits for them as it waits for running events, so none reaches the app's session store or user
   * lookup after the app closed them.
   */
  private readonly sessionReads = new Set<Promise<ConnectingSession>>();
  /** True when the namespace's adapter reaches other workers (ours with `redisUrl`, or the app's own). */
  private clustered = false;
  private readonly coldListeners = coldMessageListeners(this);
  /** The shutdown's last step for clients that take it: told, then closed once they acknowledged (see {@link drain}). */
  readonly closingNotices = new ClosingNotices();
  /** Handshakes refused because the state store did not answer the owner read: logged once per outage. */
  private readonly storeOutage = new OutageLog(this.logger, 'The state store (reading the owners of reconnecting tabs\' tokens; their handshakes are refused until it answers)');
  /** What every connection of this gateway shares: its limits and the pipeline (one object). */
  private readonly connectionContext: SocketConnectionContext;
  /** `maxTotalUnfinishedInboundBytes` and `unfinishedMessageTimeoutMs`: inbound messages begun and not finished. */
  readonly unfinishedMessages: UnfinishedMessageBudget;
  /** `maxConnectionsPerAddress`: the connections each client address holds open, counted before their handshake. */
  readonly connectionsPerAddress: AddressConnectionLimit;

  /**
   * Refuses a second module on this gateway's namespace (Nest connects gateways before it calls this hook): two
   * configurations each admitting every socket and handling its events left every event unanswered, with nothing
   * logged.
   */
  onModuleInit(): void {
    if (this.sharedNamespace) {
      throw new Error(
        `ReflexBridgeModule is imported twice on the socket path "${this.options.path}": import ReflexBridgeModule.forRoot() (or forRootAsync()) once, in the root module. It is global: feature modules inject its exports without importing it.`,
      );
    }
    // The drain starts before any app provider's shutdown hook (see drainBeforeClose); onModuleDestroy stays the
    // fallback for an app without an HTTP adapter hook.
    const adapter = this.adapterHost?.httpAdapter;
    if (adapter) drainBeforeClose(adapter, () => this.drain());
  }

  /**
   * The app is shutting down: the events running now end (up to `shutdownGraceMs`) and their answers are sent, the
   * rest are answered `server_stopping`, before Nest closes the sockets. Normally done already, from the HTTP
   * adapter's `beforeClose` (before every app module's hooks, see {@link drainBeforeClose}); here too, for an app
   * without one: Nest destroys the providers that depend on others first, so this hook runs before those of everything
   * an event uses in this module (the event cache, the live transport, the cookie handoffs, the state store).
   */
  async onModuleDestroy(): Promise<void> {
    await this.drain();
    // Again: an admission whose session read outlasted the drain ends once the app closed its store (in a hook before
    // this one), and answers what its socket sent `server_stopping`.
    await this.flushAnswers();
  }

  /** True once the shutdown drain began: handshakes are refused `server_stopping` from then on. */
  private get stopping(): boolean {
    return this.drained !== undefined;
  }

  /**
   * The shutdown drain, once: a second call waits for the first (a handler that never ends costs one grace, not two).
   * Never rejects: run from the HTTP adapter's `beforeClose`, a throw would end `app.close()` before any shutdown hook
   * ran, leaving every connection of the app open.
   */
  private drain(): Promise<void> {
    this.drained ??= (async () => {
      await Promise.all([this.pipeline.stop(), this.sessionReadsEnded()]);
      await this.flushAnswers();
      // Then the clients that take it are told, and each connection closed once its client said it sends nothing
      // more: what it sent meanwhile was answered, where closing at once dropped a click on its way.
      await this.closingNotices.closeAll(this.server?.sockets.values() ?? [], Math.min(CLOSING_ACK_WAIT_MS, this.options.shutdownGraceMs));
    })().catch((error: unknown) => this.logger.warn(`Waiting for the running events at shutdown failed: ${(error as Error)?.message}`));
    return this.drained;
  }

  /** Resolves once the session reads of connections being admitted now have ended, or after `shutdownGraceMs`. */
  private async sessionReadsEnded(): Promise<void> {
    if (this.sessionReads.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.sessionReads), new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.shutdownGraceMs)))]);
    clearTimeout(timer);
  }

  /**
   * Waits (up to {@link CLOSE_GRACE_MS}) until every connection has handed what it was sent to its WebSocket: Nest
   * closes the Socket.IO server next, which discards what a connection still buffers (the answers of the last events,
   * written while the WebSocket was still sending an earlier one). What the WebSocket holds goes out before its close
   * frame.
   */
  private async flushAnswers(): Promise<void> {
    const waits: Array<Promise<void>> = [];
    for (const socket of this.server?.sockets.values() ?? []) {
      const connection = socket.conn as unknown as { readyState: string; writeBuffer?: unknown[]; once(event: 'drain' | 'close', listener: () => void): unknown };
      if (connection.readyState !== 'open' || !connection.writeBuffer?.length) continue;
      waits.push(new Promise<void>((resolve) => {
        connection.once('drain', resolve);
        connection.once('close', resolve);
      }));
    }
    if (waits.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(waits), new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)))]);
    clearTimeout(timer);
  }

  /** The `/_event` namespace; set by Nest when the app initialises. */
  @WebSocketServer()
  readonly server?: Namespace;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly pipeline: EventPipeline,
    private readonly registry: ClientRegistry,
    private readonly sessions: SessionTracker,
    origins: OriginPolicy,
    private readonly ownership: TokenOwnership,
    private readonly lifecycle: ConnectionLifecycle,
    @Optional() @Inject(CLUSTER_LINK) private readonly cluster?: ClusterLink,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    WebSocketGateway(eventGatewayOptions(options, origins, new ClosedFrameLog(this.logger, options.path).record))(new.target);
    const limits = connectionLimitSettings(options.path, options.maxMessageBytes, options.maxOutboundBytes);
    this.connectionContext = {
      ...limits,
      owner: pipeline,
      outputBudget: new WorkerOutputBudget(options.maxTotalOutboundBytes, limits.outputPauseBytes),
      coldListeners: Object.entries(this.coldListeners),
      routerVars: options.routerVars,
    };
    this.unfinishedMessages = new UnfinishedMessageBudget(options.maxTotalUnfinishedInboundBytes, options.unfinishedMessageTimeoutMs, this.logger);
    this.connectionsPerAddress = new AddressConnectionLimit(
      options.maxConnectionsPerAddress,
      addressKeyingOf(options),
      this.logger,
    );
  }

  /**
   * Called by Nest once the adapter created the namespace: the refusal of requests naming a connection, the bound on
   * connections per address, the token check, and the cluster adapter with `redisUrl`.
   */
  afterInit(namespace: Namespace): void {
    // A second ReflexBridgeModule of the app on the same path gets the same namespace: refused at onModuleInit.
    const holder = namespace as Namespace & { [NAMESPACE_GATEWAY]?: EventGateway };
    if (holder[NAMESPACE_GATEWAY] && holder[NAMESPACE_GATEWAY] !== this) {
      this.sharedNamespace = true;
      return;
    }
    holder[NAMESPACE_GATEWAY] = this;
    // One `disconnect` listener for every socket, taken by BridgeIoAdapter where this is the namespace's one gateway.
    const disconnected = (socket: Socket): void => this.handleDisconnect(socket);
    offerSharedDisconnect(namespace, function (this: Socket): void {
      disconnected(this);
    });
    // Before Engine.IO reads a request: none may name an existing connection (a takeover, see the guard).
    // First, so that every refusal (the next middleware's too) says no-store: Engine.IO writes no Cache-Control.
    namespace.server.engine.use(noStoreEngineAnswers);
    // Every plain HTTP answer here is a refusal: its connection is not read on (an endless body would be).
    namespace.server.engine.use(closeAfterEngineAnswers);
    // Nor is anything the client pipelined behind such a request handled: it would never be answered.
    type HttpServer = Parameters<typeof closeAfterEventPathRequests>[0] & Parameters<typeof destroyUnansweredUpgrades>[0];
    const httpServer = (namespace.server as unknown as { httpServer?: HttpServer }).httpServer;
    // Engine.IO's path: the event path with one trailing slash.
    const enginePath = `${this.options.path.replace(/\/$/, '')}/`;
    if (httpServer) {
      // A connection pipelining past a bound is closed, on any route: its requests were all parsed and run at once.
      // Wrapped by the next: requests pipelined behind one to the event path never count (nothing runs them).
      closePipelinesPastBound(httpServer);
      closeAfterEventPathRequests(httpServer, enginePath);
      // Upgrades to other paths that nothing answered: Engine.IO half-closes them, and nothing would ever close them.
      destroyUnansweredUpgrades(httpServer, enginePath);
    }
    namespace.server.engine.use(refuseSessionIdRequests);
    // Then, before anything else is spent on it, the address's share of the worker's connections.
    this.connectionsPerAddress.install(namespace.server.engine);
    // A connection the server closed does not wait 30 s for a client that stopped reading (see the function).
    cutClosedConnections(namespace.server.engine);
    // Engine.IO packets no Socket.IO client sends here cost the server a decode each, counted against no budget.
    // The same listener hands each message to its connection's size limits before Socket.IO decodes it, and at each
    // heartbeat has Engine.IO's emptied queue of writes give back its memory (see the function).
    closeOnStrayEnginePackets(namespace.server.engine, SocketConnection.inspectEngineMessage, releaseEmptiedSendCallbacks);
    // Each packet queued for a client counts against its output limits, before Engine.IO queues it.
    tapEnginePackets(namespace.server.engine, 'packetCreate', SocketConnection.countEngineOutput);
    // Nor are WebSocket ping and pong frames free: an allowance of their own, on whatever the event budget says,
    // counted from a connection's first one, which the walk below sees before `ws` reads it.
    const countControlFrames = limitWebSocketControlFrames<ControlFrameConnection>(this.options.rateLimit.controlFrames, {
      joined: (conn) => SocketConnection.ofEngine(conn) !== undefined,
      pause: (conn, forMs) => SocketConnection.ofEngine(conn)?.pauseReading(forMs),
    });
    // What clients hold the worker to in messages they began and did not finish: a deadline each, a budget for all.
    this.unfinishedMessages.watch(namespace.server.engine, countControlFrames);
    namespace.use((socket, next) => {
      // Once the shutdown began, a socket let in would only be answered `server_stopping` until Nest closes it, and its
      // admission (the session read) may reach what the app already closed. Refused, a tab tries again on its own
      // backoff (`state.js`, `@reflex-bridge/client`): behind a proxy that reaches another worker, else this one
      // restarted.
      if (this.stopping) {
        refuseHandshake(socket, next, SERVER_STOPPING_MESSAGE, 'server_stopping');
        return;
      }
      const token = socket.handshake.query.token;
      if (!isClientToken(token)) {
        refuseHandshake(socket, next, 'A client token is required: connect with ?token=<uuid> (8-128 letters, digits, "-" or "_").', 'no_token');
        return;
      }
      // Where admission depends on the store (token owners) or on Redis (the cluster's token records), the token's
      // owner is read before the handshake is answered: with the state store down or frozen, the tab is refused here,
      // and `state.js` tries again on its own backoff (200 ms more per try, 2 s at most) with the same token, so it is
      // back with its state once the store answers. Admitted first, it got a new token (neither its owner nor its
      // record could be checked, which fails closed), and kept that fresh state after the store came back. On one
      // worker without bound tokens admission reads nothing, and neither does this.
      if (!this.ownership.enabled && !this.cluster) {
        next();
        return;
      }
      this.ownership.ownerOfToken(token).then(
        (owner) => {
          this.storeOutage.succeeded();
          // The shutdown may have begun during the read.
          if (this.stopping) {
            refuseHandshake(socket, next, SERVER_STOPPING_MESSAGE, 'server_stopping');
            return;
          }
          handshakeOwners.set(socket, owner);
          next();
        },
        (error: unknown) => {
          // A store the shutdown closed meanwhile is no outage.
          if (this.stopping) {
            refuseHandshake(socket, next, SERVER_STOPPING_MESSAGE, 'server_stopping');
            return;
          }
          this.storeOutage.failed(error);
          refuseHandshake(socket, next, 'The server cannot reach its state store; try again shortly.', 'state_store_unavailable');
        },
      );
    });
    this.connectionContext.outputBudget.watch(() => connectionsOf(namespace));
    this.cluster?.attach(
      namespace,
      (token) => this.pipeline.isBusy(token),
      {
        tokens: () => this.registry.tokens(),
        holds: (token) => this.registry.get(token) !== undefined,
        resync: (token) => {
          const client = this.registry.get(token);
          return client ? this.pipeline.resync(client) : Promise.resolve();
        },
      },
    );
    this.clustered = !isSingleProcessAdapter(namespace.adapter);
    this.sessions.attach(namespace, this.clustered, (socket) => SocketConnection.of(socket));
  }

  /**
   * Something that delivers updates to the socket holding `token`: the local client, or, with a cluster adapter,
   * the token's room (whichever worker the socket is on).
   */
  clientFor(token: string): EventClient | undefined {
    const local = this.registry.get(token);
    if (local) return local;
    // An application context (no HTTP server, so no Socket.IO server nor adapter: a worker running jobs) with a
    // cluster: the worker holding the tab sends it its states as stored, the change included. Without this, a
    // change made there reached the store and never the tab.
    if (!this.server && this.cluster) return this.resyncClient(token, this.cluster);
    if (!this.clustered || !this.server) return local;
    const room = this.server.to(tokenRoom(token));
    return {
      token,
      sid: '',
      headers: {},
      remoteAddress: '',
      emitUpdate: (update: StateUpdate) => room.emit('event', update),
      emitError: (error: BridgeErrorPayload) => room.emit(BRIDGE_ERROR_EVENT, error),
    };
  }

  /** What {@link clientFor} gives in an application context: an update asks for the tab's resync, errors go nowhere. */
  private resyncClient(token: string, cluster: ClusterLink): EventClient {
    return { token, sid: '', headers: {}, remoteAddress: '', emitUpdate: () => cluster.requestResync(token), emitError: () => undefined };
  }

  /** Sets up a new socket: admission (token, session), the frame and output limits, and the hot `event` listener. */
  handleConnection(socket: Socket): void {
    if (SocketConnection.sharesEngine(socket)) {
      // The namespace joined twice on one Engine.IO connection: no Socket.IO client does that. The whole connection
      // is closed, so joining again and again costs the client a new connection each time.
      this.logger.debug('A client joined the event namespace twice on one connection; closing it.');
      socket.disconnect(true);
      return;
    }
    // One object per socket (client, admission, guard hooks, tracked socket) and listeners shared by every socket:
    // 10,000 idle connections on a worker hold 10,000 of each.
    const connection = new SocketConnection(socket, flattenHeaders(socket.handshake.headers), this.connectionContext);
    // Events wait for the token check; promise callbacks keep them in arrival order. Once it has passed,
    // events go straight to the pipeline (no promise per event). The flag is set by the first callback on
    // the admission, so events that arrived earlier still run, in order, before any later one. A socket that left
    // during admission runs nothing.
    connection.admission = this.admit(socket, connection).then(
      (stayed) => (connection.admission = stayed),
      (error: Error) => {
        if (this.stopping) {
          // Begun before the shutdown, it may have read what the app closed since: no fault to report.
          this.logger.debug(`Admitting a connection failed during the shutdown; closing it: ${error.message}`);
          return (connection.admission = this.endedByShutdown(socket));
        }
        this.logger.warn(`Admitting a connection failed; closing it in ${ADMISSION_RETRY_CLOSE_MS} ms for its tab to reconnect: ${error.message}`);
        // Its transport is closed, not the socket disconnected: state.js reconnects after a lost connection, never
        // after the server's `io server disconnect`. A moment later, so a failure that lasts costs a handshake per
        // ADMISSION_RETRY_CLOSE_MS, not a tight loop. A socket that left meanwhile is already gone.
        setTimeout(() => {
          if (socket.connected) connection.closeForReconnect();
        }, ADMISSION_RETRY_CLOSE_MS).unref();
        return (connection.admission = false);
      },
    );
    // `ping`, `client_error` and `closing_ack` are listened to from the socket's first message of another name (see coldListeners).
    connection.attach();
  }

  /** Forgets everything kept for a socket that left. */
  handleDisconnect(socket: Socket): void {
    // A client that left the namespace but kept its Engine.IO connection open: no Socket.IO client does that (one
    // that disconnects closes the connection too), but a client that joined again on it would start afresh what is
    // kept per joined socket, its rate budget among it. The connection is closed instead.
    if (socket.conn.readyState === 'open') socket.conn.close();
    const connection = SocketConnection.of(socket);
    if (!connection) return;
    connection.detach();
    this.leave(socket, connection);
  }

  /** `client_error`: a browser's report of an error on its side, logged within limits (never trusted, never thrown). */
  onClientError(socket: Socket, report: unknown): void {
    try {
      this.clientErrors.record(socket, SocketConnection.of(socket)?.token ?? '', report);
    } catch (error) {
      // A listener's throw would be an uncaught exception: a report that breaks the log is dropped instead.
      this.logger.warn(`A client_error report could not be logged: ${(error as Error)?.message}`);
    }
  }

  /** `ping`: answered with `pong`, as Reflex's backend does. */
  onPing(): { event: string; data: string } {
    return { event: 'ping', data: 'pong' };
  }

  /**
   * Forgets everything kept for a socket that left. Idempotent: admission calls it again when it finds, after
   * one of its awaits, that the socket left meanwhile, so nothing it did after the disconnect handler ran
   * (binding the token here, claiming it in the cluster, tracking the session) outlives the socket.
   */
  private leave(socket: Socket, client: EventClient & { token: string }): void {
    this.lifecycle.closed(client);
    // The token's record stays until this worker has run the events the socket sent before it left: a reloaded
    // tab's new socket on another worker waits for them (it is told this socket is still there, see ClusterLink),
    // so it hydrates from a state they no longer change. Released at once, the new tab hydrated between them and
    // never saw the rest: its page showed a state the store no longer held.
    if (this.cluster) void this.pipeline.whenIdle(client.token).then(() => this.cluster?.releaseToken(client.token, socket.id));
  }

  /** Resolves once nothing of `token` runs or waits on this worker, or after `withinMs`, whichever comes first. */
  private whenIdleWithin(token: string, withinMs: number): Promise<void> {
    if (!this.pipeline.isBusy(token)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, withinMs);
      timer.unref();
      void this.pipeline.whenIdle(token).then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * The admission of a socket past its handshake ends because the shutdown began: the socket is let through unbound
   * (no token of its own here, nothing sent to it), so that the events it sent meanwhile are answered `server_stopping`
   * by the stopped pipeline rather than dropped, then its connection is closed (after those answers) and the tab
   * reconnects: refused `server_stopping` here, it reaches another worker. False for a socket that already left.
   */
  private endedByShutdown(socket: Socket): boolean {
    if (!socket.connected) return false;
    // After the answers: the events held for admission run in the promise callbacks about to follow.
    setImmediate(() => socket.conn.close());
    return true;
  }

  /** The socket's session (see {@link SessionTracker.track}), counted among the reads the drain waits for. */
  private readSession(client: SocketConnection): Promise<ConnectingSession> {
    if (!this.ownership.enabled) return this.sessions.track(client);
    const reading = this.sessions.track(client);
    this.sessionReads.add(reading);
    // track never rejects.
    void reading.then(() => this.sessionReads.delete(reading));
    return reading;
  }

  /**
   * Binds the socket's token, or gives it a new one (`new_token`, a fresh state) when the socket may not have
   * it: another live socket holds it, on this worker or (with several workers) anywhere in the cluster (a
   * duplicated tab, as in Reflex); or the token is bound to another session than the socket's (see
   * {@link TokenOwnership}). Fails closed: when either cannot be checked, the socket gets a new token. A token
   * whose socket died keeps its state for the next socket of its session.
   *
   * Resolves to false when the socket left during admission; whatever was done for it by then is undone.
   */
  private async admit(socket: Socket, client: SocketConnection): Promise<boolean> {
    // The disconnect handler may already have run during the last await: undo what admission did since.
    const presented = client.token;
    const left = (): boolean => {
      if (socket.connected) return false;
      this.leave(socket, client);
      this.logger.debug(`A connection left while it was being admitted (token ${presented.slice(0, 8)}…): nothing of it was kept.`);
      return true;
    };
    // Past its handshake when the shutdown began: its session is not read (the app is closing its session store).
    if (this.stopping) return this.endedByShutdown(socket);
    // The socket's session, from its handshake cookie (the auth middleware runs once).
    const session = await this.readSession(client);
    if (left()) return false;
    // The shutdown began during the read: the session may be unknown because the app closed its store, and a bound
    // token would then be renewed (`new_token`: the tab lost its state for good, reconnecting elsewhere).
    if (this.stopping) return this.endedByShutdown(socket);
    const token = client.token;
    // The owner read at the handshake (see afterInit); a socket joined otherwise (none is) reads it now.
    let fresh =
      this.ownership.enabled &&
      !(handshakeOwners.has(socket) ? TokenOwnership.permits(handshakeOwners.get(socket), session) : await this.ownership.mayTake(token, session));
    handshakeOwners.delete(socket);
    if (left()) return false;
    // A reloaded tab's new socket can arrive before its old one is seen to close (on a busy worker, or behind a
    // proxy): the holder gets a moment to leave before this socket counts as a duplicated tab.
    if (!fresh && this.registry.isHeldByOther(token, client)) {
      fresh = !(await this.registry.whenFree(token, client, this.options.tokenHandoverGraceMs));
      if (left()) return false;
    }
    if (!fresh && this.cluster) {
      fresh = !(await this.cluster.claimToken(token, socket.id, this.options.tokenHandoverGraceMs));
      if (left()) return false;
      // Another socket of this worker may have bound the token while the claim was out.
      if (!fresh && this.registry.isHeldByOther(token, client)) {
        fresh = true;
        void this.cluster.releaseToken(token, socket.id);
      }
    }
    // The check above may be stale by now: the events a tab sent before it left (or before this socket's wait for it
    // ended) may have bound the token to their session meanwhile, or still be binding it: a tab's first login just
    // before a reload, in a tab whose token leaked earlier. Checked only before, a socket of any session that arrived
    // at that moment took the logged-in tab's state. So the owner is checked again once those events have run (on this
    // worker; another worker's holder is released only then), waiting for them for the grace at most: this socket is
    // not read meanwhile, heartbeats included, and a reloaded tab's first event would queue behind them anyway. One
    // more owner-entry read per connection, where tokens are bound at all.
    if (!fresh && this.ownership.enabled) {
      await this.whenIdleWithin(token, this.options.tokenHandoverGraceMs);
      if (left()) return false;
      // A store that fails now fails the admission: the connection is closed for the tab to come back with its
      // token (see ADMISSION_RETRY_CLOSE_MS), rather than given a fresh state it would keep.
      fresh = !TokenOwnership.permits(await this.ownership.ownerOfToken(token), session);
      // A socket that left now: leave() releases its claim. One refused now: the claim it holds is let go.
      if (left()) return false;
      if (fresh && this.cluster) void this.cluster.releaseToken(token, socket.id);
    }
    // The checks above may have outlasted the drain's start: the token is neither bound here nor renewed.
    if (this.stopping) return this.endedByShutdown(socket);
    // Another socket that waited for the same holder may have bound the token first.
    fresh ||= this.registry.isHeldByOther(token, client);
    if (fresh) {
      // A duplicated tab (sessionStorage is copied), or a token this socket may not have: its own token.
      const renewed = randomUUID();
      client.token = renewed;
      socket.emit('new_token', renewed);
      if (this.cluster) {
        await this.cluster.recordNewToken(renewed, socket.id);
        if (left()) return false;
      }
    }
    // Synchronously after the last check that the socket is connected: its disconnect handler, still to come,
    // unbinds it.
    this.registry.bind(client.token, client);
    // The token's room carries updates from other workers (see clientFor); on one worker nobody sends to it,
    // and each room costs every connection a Set and a map entry.
    if (this.clustered) await socket.join(tokenRoom(client.token));
    return !left();
  }
}
