import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on a free loopback port that sends each new connection to the worker it currently points at, as nginx
 * sends a tab's next connection to another worker once the one it was on stops: connections already open stay on
 * their worker until it closes them.
 */
export class FailoverProxy {
  private readonly open = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    /** The proxy's URL, for clients. */
    readonly url: string,
    /** The port new connections are sent to. */
    public targetPort: number,
  ) {}

  static async launch(targetPort: number): Promise<FailoverProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new FailoverProxy(server, `http://127.0.0.1:${(server.address() as { port: number }).port}`, targetPort);
    server.on('connection', (client) => proxy.forward(client));
    return proxy;
  }

  private forward(client: Socket): void {
    const upstream = connect(this.targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      this.open.add(socket);
      socket.on('close', () => this.open.delete(socket));
      // A reset on one side resets the other; an orderly end is passed on by pipe(), after what was sent before it.
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Cuts every connection and stops listening. */
  async close(): Promise<void> {
    for (const socket of this.open) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The port of a `http://host:port` URL. */
export function portOf(url: string): number {
  return Number(new URL(url).port);
}
