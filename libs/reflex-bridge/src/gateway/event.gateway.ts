import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Server, type Socket } from 'socket.io';
import { BRIDGE_ERROR_EVENT, BridgeError, type BridgeErrorPayload } from '../protocol/bridge-error.js';
import type { StateUpdate } from '../protocol/state-update.js';
import { EventPipeline } from '../pipeline/event-pipeline.service.js';
import type { EventClient } from '../pipeline/event-client.js';
import { BridgeRunner } from '../bridge/bridge-runner.service.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { ClientRegistry } from './client-registry.js';
import { ClientErrorLog } from './client-error-log.js';
import { LiveListSubscriptions } from '../live/live-list-subscriptions.service.js';
import { SessionTracker } from '../bridge/session-tracker.service.js';
import { ClusterLink } from './cluster-link.js';
import { EventFrameSizeMeter } from '../security/event-frame-size.meter.js';
import { SocketReadThrottle } from '../security/socket-read.throttle.js';

/** Client tokens Reflex generates are uuid4; accept any similar opaque id, nothing that could smuggle data. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;

function tokenRoom(token: string): string {
  return `rx:token:${token}`;
}

function flattenHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/**
 * The `/_event` Socket.IO endpoint, kept thin: token checks and bookkeeping, then hand-off to the
 * {@link EventPipeline}. The Socket.IO server is created here, on the app's HTTP server, because its path,
 * buffer size and timeouts come from the module options at runtime (Nest's `@WebSocketGateway` takes them
 * statically).
 */
@Injectable()
export class EventGateway implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('ReflexBridge');
  private readonly clientErrors = new ClientErrorLog(this.logger);
  private server?: Server;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly pipeline: EventPipeline,
    private readonly bridge: BridgeRunner,
    private readonly registry: ClientRegistry,
    private readonly liveLists: LiveListSubscriptions,
    private readonly sessions: SessionTracker,
  ) {}

  private cluster?: ClusterLink;

  /** The Socket.IO server (for adapters and advanced use); undefined before the module initialised. */
  get io(): Server | undefined {
    return this.server;
  }

  async onModuleInit(): Promise<void> {
    const httpServer = this.adapterHost.httpAdapter?.getHttpServer();
    if (!httpServer) {
      this.logger.warn('No HTTP server found: the /_event socket is not served (is this an HTTP application?)');
      return;
    }
    const { path, maxMessageBytes, pingIntervalMs, pingTimeoutMs, corsOrigins } = this.options;
    this.server = new Server(httpServer, {
      path,
      transports: ['websocket'],
      allowUpgrades: false,
      serveClient: false,
      // The transport refuses frames over twice the limit outright (closing that connection); frames
      // between the limit and that bound are read, answered with payload_too_large, and dropped.
      maxHttpBufferSize: maxMessageBytes * 2,
      pingInterval: pingIntervalMs,
      pingTimeout: pingTimeoutMs,
      ...(corsOrigins !== undefined ? { cors: { origin: corsOrigins, credentials: true } } : {}),
      // CORS does not govern WebSocket upgrades: check the Origin header ourselves when origins are listed.
      ...(Array.isArray(corsOrigins)
        ? {
            allowRequest: (request: IncomingMessage, callback: (error: string | null | undefined, success: boolean) => void) => {
              const origin = request.headers.origin;
              callback(null, origin === undefined || corsOrigins.includes(origin));
            },
          }
        : {}),
    });
    const namespace = this.server.of(path);
    namespace.use((socket, next) => {
      const token = socket.handshake.query.token;
      if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) {
        const error = new Error('A client token is required: connect with ?token=<uuid> (8-128 letters, digits, "-" or "_").');
        (error as Error & { data: unknown }).data = { code: 'no_token' };
        next(error);
        return;
      }
      next();
    });
    if (this.options.redisUrl) {
      this.cluster = await ClusterLink.connect(this.options.redisUrl, this.server, path, this.options.stateTtlSeconds, this.logger);
    }
    this.sessions.attach(namespace, this.cluster !== undefined);
    namespace.on('connection', (socket) => this.onConnection(socket));
  }

  /**
   * Something that delivers updates to the socket holding `token`: the local client, or, with several
   * workers, the token's room through the Redis adapter (whichever worker the socket is on).
   */
  clientFor(token: string): EventClient | undefined {
    const local = this.registry.get(token);
    if (local || !this.cluster || !this.server) return local;
    const room = this.server.of(this.options.path).to(tokenRoom(token));
    return {
      token,
      sid: '',
      headers: {},
      remoteAddress: '',
      emitUpdate: (update: StateUpdate) => room.emit('event', update),
      emitError: (error: BridgeErrorPayload) => room.emit(BRIDGE_ERROR_EVENT, error),
    };
  }

  /**
   * Disconnects every client before Nest closes the HTTP server: upgraded WebSocket connections are not
   * closed by `server.close()`, so leaving them would hang the app's shutdown.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.disconnectSockets(true);
    // Close the Engine.IO side only: the HTTP server belongs to the app, which closes it itself.
    server.engine.close();
    await Promise.all([...server._nsps.values()].map((nsp) => nsp.adapter.close?.()));
    await this.cluster?.close();
  }

  private onConnection(socket: Socket): void {
    const client: EventClient & { token: string } = {
      token: socket.handshake.query.token as string,
      sid: socket.id,
      headers: flattenHeaders(socket.handshake.headers),
      remoteAddress: socket.handshake.address,
      emitUpdate: (update: StateUpdate) => socket.emit('event', update),
      emitError: (error: BridgeErrorPayload) => socket.emit(BRIDGE_ERROR_EVENT, error),
    };
    // Events wait for the token check; promise callbacks keep them in arrival order. Once it has passed,
    // events go straight to the pipeline (no promise per event). The flag is set by the first callback on
    // `admitted`, so events that arrived earlier still run, in order, before any later one.
    let isAdmitted = false;
    const admitted = this.admit(socket, client).then(() => {
      isAdmitted = true;
    });
    let oversized = 0;
    // Fairness and queue limits: each event carries its frame's size to the queue, and the socket is not
    // read while the token's queue is full.
    const frameSizes = new EventFrameSizeMeter(this.options.path, this.options.maxMessageBytes);
    const reading = new SocketReadThrottle(socket);
    const onPacket = (packet: { type: string; data?: unknown }) => {
      if (packet.type === 'message') frameSizes.record(packet.data);
      // Engine.IO reports each frame before Socket.IO decodes it, so the size check sees the raw frame.
      if (packet.type === 'message' && typeof packet.data === 'string' && packet.data.length > this.options.maxMessageBytes / 4 &&
        Buffer.byteLength(packet.data) > this.options.maxMessageBytes) {
        oversized++;
        client.emitError(new BridgeError('payload_too_large', `The event exceeds the ${this.options.maxMessageBytes}-byte limit and was dropped.`).toPayload());
      }
    };
    socket.conn.on('packet', onPacket);
    socket.on('event', (frame: unknown) => {
      const bytes = frameSizes.next();
      if (oversized > 0) {
        oversized--;
        return;
      }
      if (isAdmitted) void this.pipeline.handle(client, frame, bytes);
      else void admitted.then(() => this.pipeline.handle(client, frame, bytes));
      if (this.pipeline.isQueueFull(client.token)) reading.pauseUntil((resume) => this.pipeline.onQueueDrained(client.token, resume));
    });
    socket.on('client_error', (report: unknown) => this.clientErrors.record(socket.id, client.token, report));
    socket.on('ping', () => socket.emit('ping', 'pong'));
    socket.on('disconnect', () => {
      socket.conn.off('packet', onPacket);
      this.registry.unbind(client.token, client);
      this.sessions.untrack(socket.id);
      void this.cluster?.releaseToken(client.token, socket.id);
      this.bridge.forget(client);
      this.liveLists.stop(socket.id);
      this.clientErrors.forget(socket.id);
    });
  }

  /**
   * Binds the socket's token, or gives it a new one when another live socket holds it: on this worker, or
   * (with several workers) anywhere in the cluster. A token whose socket died keeps its state.
   */
  private async admit(socket: Socket, client: EventClient & { token: string }): Promise<void> {
    let token = client.token;
    const duplicate = this.registry.isHeldByOther(token, client) || (this.cluster && !(await this.cluster.claimToken(token, socket.id)));
    if (duplicate) {
      // A duplicated tab (sessionStorage is copied): it gets its own token, as in Reflex.
      token = randomUUID();
      client.token = token;
      socket.emit('new_token', token);
      await this.cluster?.claimToken(token, socket.id);
    }
    this.registry.bind(token, client);
    await socket.join(tokenRoom(token));
    await this.sessions.track({ client, disconnect: () => socket.disconnect(true) });
  }
}
