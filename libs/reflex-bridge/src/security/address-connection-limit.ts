import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '@nestjs/common';
import { compactListeners } from '../common/compact-listener.js';
import { requestAddressKey, type AddressKeying } from './client-address.js';
import type { EngineMiddleware } from './engine-session-id.guard.js';

/** Seconds a refused client is told to wait (`Retry-After`): Socket.IO clients retry on their own backoff anyway. */
const RETRY_AFTER_SECONDS = 5;

/**
 * Bounds the connections one client address holds open to the event server (`maxConnectionsPerAddress`), checked
 * first thing on every request Engine.IO is given (an Engine.IO middleware), before the handshake, the origin check
 * and the session middleware a join runs. Without it one address could open sockets until the worker ran out of
 * file descriptors or memory: every connection is cheap on its own and within its own limits, and what
 * connections that never read hold together is bounded (`maxTotalOutboundBytes`), but not how many there are.
 *
 * A TCP connection is counted from its first request to the event server until it closes, whatever becomes of it
 * (a WebSocket for as long as it is open; a refused handshake until its socket is gone), so a burst of handshakes
 * cannot all pass before any of them is counted. Past the limit a request is answered
 * `429 {"detail","code":"too_many_connections","limit"}` with `Retry-After` and its connection closed; the other
 * addresses are not affected. The first refusal of an address is logged, again once one of its connections closed.
 */
export class AddressConnectionLimit {
  /** Open connections per address key; an address leaves when its last connection closes. */
  private readonly open = new Map<string, number>();
  /** TCP connections already counted (keep-alive requests share one), with the address each counts under. */
  private readonly counted = new WeakMap<Socket, string>();
  /**
   * The `close` listener of every counted connection, one function for all: a closure made in the middleware would
   * keep its whole scope (the request, Engine.IO's stand-in response and its `next`, with their promise) for as long
   * as the connection is open, about 600 bytes per idle connection.
   */
  private readonly onCountedClose: (this: Socket) => void;
  /** Addresses refused since one of their connections last closed: logged once each (each holds connections). */
  private readonly logged = new Set<string>();

  /**
   * @param max connections one address may hold open at a time (`maxConnectionsPerAddress`)
   * @param keying how a request's address is read and grouped
   * @param logger where refusals are logged
   */
  constructor(
    readonly max: number,
    private readonly keying: AddressKeying,
    private readonly logger: Logger,
  ) {
    const counted = this.counted;
    const release = (address: string): void => this.release(address);
    this.onCountedClose = function (this: Socket): void {
      const address = counted.get(this);
      if (address === undefined) return;
      counted.delete(this);
      release(address);
    };
  }

  /** Connections `address` (a key, as {@link keyOf} makes it) holds open now. */
  openFrom(address: string): number {
    return this.open.get(address) ?? 0;
  }

  /** Addresses holding at least one connection. */
  get addresses(): number {
    return this.open.size;
  }

  /**
   * Counts and refuses every request `engine` is given (its first middleware: install before any other).
   * A connection that became a WebSocket has `ws`'s `close` listener behind the count's, a third one, which Node
   * keeps in an array V8 grew to 20 slots: given back its length then (about 140 bytes per idle connection).
   */
  install(engine: { use(middleware: EngineMiddleware): unknown; on(event: 'connection', listener: (connection: { request?: IncomingMessage }) => void): unknown }): void {
    engine.use(this.middleware);
    engine.on('connection', (connection) => {
      const socket = connection.request?.socket;
      if (socket) compactListeners(socket, 'close');
    });
  }

  /** The Engine.IO middleware that counts and refuses ({@link install} installs it). */
  readonly middleware: EngineMiddleware = (request, response, next) => {
    const socket = request.socket;
    if (this.counted.has(socket) || socket.destroyed) {
      next();
      return;
    }
    const address = this.keyOf(request);
    const held = this.open.get(address) ?? 0;
    if (held >= this.max) {
      // Engine.IO then closes the connection (and writes nothing more: the answer has been given).
      this.refuse(request, response, address, () => next(new Error('Too many connections from this address.')));
      return;
    }
    this.open.set(address, held + 1);
    this.counted.set(socket, address);
    socket.on('close', this.onCountedClose);
    next();
  };

  /** The key a request counts under: its client address as the handler rate limits key it. */
  keyOf(request: IncomingMessage): string {
    return requestAddressKey(request, this.keying);
  }

  private release(address: string): void {
    const left = (this.open.get(address) ?? 1) - 1;
    if (left > 0) this.open.set(address, left);
    else this.open.delete(address);
    this.logged.delete(address);
  }

  /**
   * Answers 429 on the request's own connection, then closes it. Engine.IO gives a WebSocket handshake a stand-in
   * response that writes nothing (its own refusal is a fixed `400 Bad Request`): the answer goes onto the socket.
   */
  private refuse(request: IncomingMessage, response: unknown, address: string, done: () => void): void {
    if (!this.logged.has(address)) {
      this.logged.add(address);
      const behindProxy = !this.keying.trustProxy && request.headers['x-forwarded-for'] !== undefined;
      // Cut short: with bridge.trustProxy a client that bypasses the proxy writes its own X-Forwarded-For.
      this.logger.warn(
        `Refusing event connections from ${address.slice(0, 64)}: it has ${this.max} open on this worker (maxConnectionsPerAddress). Logged once until one of them closes.` +
          (behindProxy ? ' The request came through a proxy (X-Forwarded-For) while bridge.trustProxy is unset: every client has the proxy\'s address.' : ''),
      );
    }
    const body = JSON.stringify({ detail: 'Too many connections from your address are open; close one or try again later.', code: 'too_many_connections', limit: this.max });
    if (response instanceof ServerResponse) {
      if (!response.headersSent) {
        response.writeHead(429, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Retry-After': String(RETRY_AFTER_SECONDS), Connection: 'close', 'Cache-Control': 'no-store' });
        response.end(body);
      }
      done();
      return;
    }
    const socket = request.socket;
    if (!socket.writable) {
      done();
      return;
    }
    // Engine.IO destroys the socket once told: only after the answer has been handed to the system.
    socket.end(
      'HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n' +
        `Retry-After: ${RETRY_AFTER_SECONDS}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      done,
    );
  }
}
