import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on a free loopback port in front of the Redis at `targetPort` that resets the first `resets` connections
 * whose first bytes name the client `clientName` (node-redis sends `CLIENT SETNAME <name>` as it connects: the library
 * names its command connection `rx:commands`): such a connection attempt fails, as when Redis restarts or a loaded
 * machine times the attempt out, while other clients' connections, and every later one, are forwarded.
 */
export class ResettingProxy {
  private readonly open = new Set<Socket>();
  /** Connections reset so far. */
  reset = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async launch(targetPort: number, clientName: string, resets: number): Promise<ResettingProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new ResettingProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (client) => {
      client.on('error', () => undefined);
      proxy.open.add(client);
      client.on('close', () => proxy.open.delete(client));
      client.once('data', (first: Buffer) => {
        if (proxy.reset < resets && first.includes(clientName)) {
          proxy.reset++;
          client.resetAndDestroy();
          return;
        }
        const upstream = connect(targetPort, '127.0.0.1');
        proxy.open.add(upstream);
        upstream.on('close', () => proxy.open.delete(upstream));
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        upstream.write(first);
        client.pipe(upstream);
        upstream.pipe(client);
      });
    });
    return proxy;
  }

  /** The proxy's Redis URL. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Cuts every connection and stops listening. */
  async close(): Promise<void> {
    for (const socket of this.open) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
