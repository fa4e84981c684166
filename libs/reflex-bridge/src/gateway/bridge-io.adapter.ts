import { IoAdapter } from '@nestjs/platform-socket.io';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { Observable, Subscription } from 'rxjs';
import type { Socket } from 'socket.io';
import { sharedDisconnectOf } from './shared-disconnect.listener.js';

/** What one socket's message listener runs: the gateways' handlers of that message, in binding order. */
interface BoundHandler {
  callback: (data: unknown, ack?: unknown) => unknown;
  isAckHandledManually: boolean;
  transform: (data: unknown) => Observable<unknown>;
}

/** A socket's handlers by message name, and the results of its handlers still streaming. */
interface SocketHandlers {
  byMessage: Map<string, BoundHandler[]>;
  running: Set<Subscription>;
}

/**
 * Nest's Socket.IO adapter (`IoAdapter` from `@nestjs/platform-socket.io`) with the same behaviour and a smaller
 * footprint per connection, for workers that hold many idle tabs.
 *
 * `IoAdapter` gives every socket an RxJS pipeline when it connects (`fromEvent(socket, 'disconnect')`, `share`,
 * `first`, kept in a map until the socket goes), even for a gateway with no `@SubscribeMessage` handler, such as
 * the bridge's `/_event` gateway, and one more pipeline per message handler (`fromEvent` → `mergeMap` →
 * `takeUntil(disconnect$)`, subscribed). This adapter builds none of them: a socket's handlers are kept in one
 * map per socket, and each message name has one listener function shared by every socket (Socket.IO calls a
 * listener with its socket as `this`). What a handler sees is unchanged: the payload mapped as `IoAdapter` maps it
 * (a trailing acknowledgement function left off and passed as `ack`), guards, interceptors, pipes and exception
 * filters applied by Nest around the callback, a `WsResponse` result (`{ event, data }`) emitted to the socket,
 * any other result passed to the acknowledgement (unless the handler acknowledges itself), results that arrive
 * after the socket left dropped, and a failure logged without silencing later messages.
 *
 * Install it like any adapter, before `app.listen()`; extend it instead of `IoAdapter` to customise the server
 * (for example with Nest's Redis adapter recipe).
 * @example
 * ```ts
 * const app = await NestFactory.create(AppModule);
 * app.useWebSocketAdapter(new BridgeIoAdapter(app));
 * await app.listen(3000);
 * ```
 * @publicApi
 */
export class BridgeIoAdapter extends IoAdapter {
  /** Each socket's handlers and running results; only sockets of gateways with message handlers are here. */
  private readonly sockets = new WeakMap<Socket, SocketHandlers>();
  /** One listener per message name, shared by every socket. */
  private readonly listeners = new Map<string, (this: Socket, ...args: unknown[]) => void>();
  /** How many gateways listen to the connections of each server or namespace (`bindClientConnect`). */
  private readonly gatewaysOf = new WeakMap<object, number>();
  /** Ends what a socket's handlers still stream when it leaves; shared by every socket. */
  private readonly onDisconnect: (this: Socket) => void;

  constructor(...args: ConstructorParameters<typeof IoAdapter>) {
    super(...args);
    const sockets = this.sockets;
    this.onDisconnect = function (this: Socket): void {
      const entry = sockets.get(this);
      if (!entry) return;
      sockets.delete(this);
      // As `IoAdapter`'s `takeUntil(disconnect$)`: a result still streaming (an Observable) is unsubscribed.
      for (const subscription of entry.running) subscription.unsubscribe();
      entry.running.clear();
    };
  }

  override bindMessageHandlers(socket: Socket, handlers: MessageMappingProperties[], transform: (data: unknown) => Observable<unknown>): void {
    // A gateway without message handlers (the bridge's own) costs its sockets nothing here.
    if (handlers.length === 0) return;
    let entry = this.sockets.get(socket);
    if (!entry) {
      entry = { byMessage: new Map(), running: new Set() };
      this.sockets.set(socket, entry);
      socket.once('disconnect', this.onDisconnect);
    }
    for (const { message, callback, isAckHandledManually } of handlers) {
      const name = String(message);
      const bound: BoundHandler = { callback: callback as BoundHandler['callback'], isAckHandledManually: isAckHandledManually === true, transform };
      const existing = entry.byMessage.get(name);
      if (existing) {
        existing.push(bound);
        continue;
      }
      entry.byMessage.set(name, [bound]);
      socket.on(name, this.listenerFor(name));
    }
  }

  /** Counts the gateways listening to each namespace's connections (see {@link bindClientDisconnect}). */
  override bindClientConnect(server: object, callback: (...args: unknown[]) => void): void {
    this.gatewaysOf.set(server, (this.gatewaysOf.get(server) ?? 0) + 1);
    super.bindClientConnect(server, callback);
  }

  /**
   * Calls `callback` when the socket disconnects: a plain listener (a socket emits `disconnect` once). On the
   * `/_event` namespace, when the bridge's gateway is the only gateway on it, its own listener shared by every socket
   * instead: Nest's `callback` is a closure made for each socket that would only have called that gateway's
   * `handleDisconnect` (see `offerSharedDisconnect`).
   */
  override bindClientDisconnect(client: Socket, callback: (...args: unknown[]) => void): void {
    const shared = sharedDisconnectOf(client.nsp);
    if (shared !== undefined && this.gatewaysOf.get(client.nsp) === 1) client.on('disconnect', shared);
    else client.on('disconnect', callback);
  }

  private listenerFor(name: string): (this: Socket, ...args: unknown[]) => void {
    let listener = this.listeners.get(name);
    if (listener) return listener;
    const sockets = this.sockets;
    const run = (socket: Socket, entry: SocketHandlers, handler: BoundHandler, data: unknown, ack: unknown) => this.run(socket, entry, handler, data, ack);
    const mapPayload = (payload: unknown) => this.mapPayload(payload);
    listener = function (this: Socket, ...args: unknown[]): void {
      const entry = sockets.get(this);
      const handlers = entry?.byMessage.get(name);
      if (!entry || !handlers) return;
      // As `fromEvent` hands it over: several arguments as an array, else the one (or none) as itself.
      const { data, ack } = mapPayload(args.length > 1 ? args : args[0]);
      for (const handler of handlers) run(this, entry, handler, data, ack);
    };
    this.listeners.set(name, listener);
    return listener;
  }

  /** One handler call, answered as `IoAdapter` answers it; never throws. */
  private run(socket: Socket, entry: SocketHandlers, handler: BoundHandler, data: unknown, ack: unknown): void {
    let subscription: Subscription | undefined;
    const done = () => {
      if (subscription) entry.running.delete(subscription);
    };
    try {
      subscription = handler.transform(handler.callback(data, ack)).subscribe({
        next: (response) => {
          if (response === undefined || response === null) return;
          if ((response as { event?: unknown }).event) {
            const { event, data: answer } = response as { event: string; data: unknown };
            socket.emit(event, answer);
            return;
          }
          if (!handler.isAckHandledManually && typeof ack === 'function') (ack as (value: unknown) => void)(response);
        },
        error: (error: unknown) => {
          // A failure is logged and ends this call only: later messages are still handled.
          this.logger.error(error);
          done();
        },
        complete: done,
      });
    } catch (error) {
      this.logger.error(error);
      return;
    }
    // Still streaming (an Observable result): ended when the socket leaves.
    if (!subscription.closed) {
      if (socket.connected) entry.running.add(subscription);
      else subscription.unsubscribe();
    }
  }
}
