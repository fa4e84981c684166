/**
 * The least response object express-session and passport need (headers, `writeHead`, `end`): the chain
 * baseline's stand-in for Node's `ServerResponse`, with no socket behind it.
 */
export class PlainResponse {
  statusCode = 200;
  finished = false;
  private headersSent = false;
  private readonly headers = new Map<string, unknown>();

  setHeader(name: string, value: unknown): this {
    this.headers.set(name.toLowerCase(), value);
    return this;
  }

  getHeader(name: string): unknown {
    return this.headers.get(name.toLowerCase());
  }

  writeHead(status: number): this {
    this.statusCode = status;
    this.headersSent = true;
    return this;
  }

  end(): this {
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.finished = true;
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
}
