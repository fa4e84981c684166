import { connect, createServer, type Server, type Socket } from 'node:net';

/** The startup-phase requests a client may send before its startup message (no type byte either): SSL, GSS encryption. */
const NEGOTIATION_CODES = new Set([80877103, 80877104]);

/**
 * A TCP proxy on a free loopback port in front of Postgres at `targetPort`, which reads the frontend messages its
 * clients send (the wire protocol's framing, nothing more) and counts the simple queries (`Q` messages) by their
 * text: what a client sent, measured outside it, however long the server takes to answer (a frozen server too).
 */
export class PgStatementCounter {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly sockets: Socket[],
    private readonly sent: string[],
  ) {}

  static async launch(targetPort: number): Promise<PgStatementCounter> {
    const sockets: Socket[] = [];
    const sent: string[] = [];
    const server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      sockets.push(client, upstream);
      let buffered = Buffer.alloc(0);
      let typed = false;
      client.on('data', (chunk: Buffer) => {
        upstream.write(chunk);
        buffered = Buffer.concat([buffered, chunk]);
        for (;;) {
          const header = typed ? 5 : 8;
          if (buffered.length < header) break;
          const length = typed ? buffered.readInt32BE(1) + 1 : buffered.readInt32BE(0);
          if (buffered.length < length) break;
          if (typed && buffered[0] === 0x51) sent.push(buffered.subarray(5, length - 1).toString('utf8'));
          if (!typed && !NEGOTIATION_CODES.has(buffered.readInt32BE(4))) typed = true;
          buffered = buffered.subarray(length);
        }
      });
      upstream.on('data', (chunk) => client.write(chunk));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new PgStatementCounter(server, (server.address() as { port: number }).port, sockets, sent);
  }

  /** How many simple queries with exactly this text the clients have sent so far. */
  count(text: string): number {
    return this.sent.filter((sql) => sql === text).length;
  }

  /** `connectionString` with its port replaced by this proxy's. */
  through(connectionString: string): string {
    const url = new URL(connectionString);
    url.port = String(this.port);
    return url.toString();
  }

  /** Closes every connection and stops listening. */
  async destroy(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
