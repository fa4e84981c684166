import { EventEmitter } from 'node:events';

/**
 * The response side of a bridged event: records what middleware, guards and exception filters answer
 * (status, headers, body, redirects) instead of writing to a socket. `finished` tells the bridge that a
 * middleware answered, which short-circuits the event.
 */
export class SyntheticResponse extends EventEmitter {
  statusCode = 200;
  statusMessage = '';
  headersSent = false;
  finished = false;
  writableEnded = false;
  body: unknown;
  readonly locals: Record<string, unknown> = {};
  private readonly headerMap = new Map<string, number | string | string[]>();

  setHeader(name: string, value: number | string | readonly string[]): this {
    this.headerMap.set(name.toLowerCase(), Array.isArray(value) ? [...value] : (value as number | string));
    return this;
  }

  getHeader(name: string): number | string | string[] | undefined {
    return this.headerMap.get(name.toLowerCase());
  }

  getHeaders(): Record<string, number | string | string[]> {
    return Object.fromEntries(this.headerMap);
  }

  hasHeader(name: string): boolean {
    return this.headerMap.has(name.toLowerCase());
  }

  removeHeader(name: string): void {
    this.headerMap.delete(name.toLowerCase());
  }

  /** Express's `res.set` / `res.header`. */
  set(name: string, value: string): this {
    return this.setHeader(name, value);
  }

  header(name: string, value: string): this {
    return this.setHeader(name, value);
  }

  writeHead(status: number, ...rest: unknown[]): this {
    this.statusCode = status;
    const headers = rest.find((item) => typeof item === 'object' && item !== null) as Record<string, string> | undefined;
    for (const [name, value] of Object.entries(headers ?? {})) this.setHeader(name, value);
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

  end(chunk?: unknown, ..._rest: unknown[]): this {
    if (this.finished) return this;
    if (typeof chunk === 'function') chunk = undefined;
    if (chunk !== undefined) this.write(chunk);
    // on-headers (used by express-session) hooks writeHead: call it so the session cookie is set.
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.finished = true;
    this.writableEnded = true;
    this.emit('finish');
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
