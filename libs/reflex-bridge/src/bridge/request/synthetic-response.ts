import { LazyEventEmitter } from './lazy-event-emitter.js';

/** Where the response keeps its headers: made on the first header set (most bridged events set none). */
const HEADERS = Symbol('reflex-bridge:response-headers');

/**
 * The response side of a bridged event: records what middleware, guards and exception filters answer
 * (status, headers, body, redirects) instead of writing to a socket. `finished` tells the bridge that a
 * middleware answered, which short-circuits the event.
 *
 * An `EventEmitter` (`instanceof` holds, `on`/`once`/`emit` work as on Node's response) whose emitter state is made
 * on its first listener: Node's emitters start with an empty listener table each, and most bridged events never
 * listen. `res.locals` is likewise made on first use.
 *
 * What `context.switchToHttp().getResponse()` returns in a bridged guard, interceptor or filter.
 * @publicApi
 */
export class SyntheticResponse extends LazyEventEmitter {
  statusCode = 200;
  statusMessage = '';
  headersSent = false;
  finished = false;
  writableEnded = false;
  body: unknown;
  /** Express's `res.locals` (made on first read, see below). */
  declare locals: Record<string, unknown>;
  private [HEADERS]: Map<string, number | string | string[]> | undefined = undefined;
  /** The bridge's own waits for the end (see {@link whenFinished}), made on the first one. */
  private finishCallbacks: Array<() => void> | undefined = undefined;

  /**
   * Calls `callback` once, when the response finishes (right after its `'finish'` listeners). The bridge's own
   * waits use this rather than `once('finish')`: a bridged event waits twice (a session middleware that loads
   * late, and express-session's save at the end), and Node's `once` makes a listener table, a wrapper and its state
   * each time, then a new table when the last listener is removed.
   */
  whenFinished(callback: () => void): void {
    (this.finishCallbacks ??= []).push(callback);
  }

  /** Cancels a {@link whenFinished} callback that has not been called. */
  cancelWhenFinished(callback: () => void): void {
    const callbacks = this.finishCallbacks;
    const index = callbacks ? callbacks.indexOf(callback) : -1;
    if (index >= 0) callbacks!.splice(index, 1);
  }

  setHeader(name: string, value: number | string | readonly string[]): this {
    (this[HEADERS] ??= new Map()).set(name.toLowerCase(), Array.isArray(value) ? [...value] : (value as number | string));
    return this;
  }

  getHeader(name: string): number | string | string[] | undefined {
    return this[HEADERS]?.get(name.toLowerCase());
  }

  getHeaders(): Record<string, number | string | string[]> {
    return Object.fromEntries(this[HEADERS] ?? []);
  }

  hasHeader(name: string): boolean {
    return this[HEADERS]?.has(name.toLowerCase()) ?? false;
  }

  removeHeader(name: string): void {
    this[HEADERS]?.delete(name.toLowerCase());
  }

  /** Express's `res.set` / `res.header`. */
  set(name: string, value: string): this {
    return this.setHeader(name, value);
  }

  header(name: string, value: string): this {
    return this.setHeader(name, value);
  }

  /** Node's `writeHead(status[, statusMessage][, headers])`. */
  writeHead(status: number, messageOrHeaders?: unknown, maybeHeaders?: unknown): this {
    this.statusCode = status;
    const headers = typeof messageOrHeaders === 'object' && messageOrHeaders !== null ? messageOrHeaders : maybeHeaders;
    if (typeof headers === 'object' && headers !== null) {
      for (const [name, value] of Object.entries(headers as Record<string, string>)) this.setHeader(name, value);
    }
    this.headersSent = true;
    return this;
  }

  status(code: number): this {
    this.statusCode = code;
    return this;
  }

  /** Express's `res.redirect([status,] url)`. */
  redirect(statusOrUrl: number | string, maybeUrl?: string): void {
    const status = typeof statusOrUrl === 'number' ? statusOrUrl : 302;
    const url = typeof statusOrUrl === 'string' ? statusOrUrl : (maybeUrl ?? '/');
    this.statusCode = status;
    this.setHeader('location', url);
    this.end();
  }

  json(body: unknown): this {
    this.setHeader('content-type', 'application/json');
    this.end(body);
    return this;
  }

  send(body: unknown): this {
    this.end(body);
    return this;
  }

  sendStatus(code: number): this {
    this.statusCode = code;
    this.end();
    return this;
  }

  write(chunk: unknown): boolean {
    this.body = this.body === undefined ? chunk : `${String(this.body)}${String(chunk)}`;
    return true;
  }

  end(chunk?: unknown): this {
    if (this.finished) return this;
    if (typeof chunk === 'function') chunk = undefined;
    if (chunk !== undefined) this.write(chunk);
    // on-headers (used by express-session) hooks writeHead: call it so the session cookie is set.
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.finished = true;
    this.writableEnded = true;
    this.emit('finish');
    const callbacks = this.finishCallbacks;
    if (callbacks) {
      this.finishCallbacks = undefined;
      for (const callback of callbacks) callback();
    }
    return this;
  }

  /** Node's internal "headers written" flag, which express-session reads. */
  get _header(): boolean {
    return this.headersSent;
  }

  /** Node's internal hook express-session calls before ending a response. */
  _implicitHeader(): void {
    if (!this.headersSent) this.writeHead(this.statusCode);
  }

  /** The `Set-Cookie` values middleware wrote, as a list. */
  setCookies(): string[] {
    const value = this.getHeader('set-cookie');
    if (value === undefined) return [];
    return Array.isArray(value) ? value : [String(value)];
  }
}

Object.defineProperty(SyntheticResponse.prototype, 'locals', {
  configurable: true,
  enumerable: false,
  get(this: SyntheticResponse): Record<string, unknown> {
    const locals: Record<string, unknown> = {};
    Object.defineProperty(this, 'locals', { value: locals, writable: true, enumerable: true, configurable: true });
    return locals;
  },
  set(this: SyntheticResponse, value: Record<string, unknown>) {
    Object.defineProperty(this, 'locals', { value, writable: true, enumerable: true, configurable: true });
  },
});
