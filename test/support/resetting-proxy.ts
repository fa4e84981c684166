import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on a free loopback port in front of the Redis at `targetPort` that resets the first `resets` connections
 * whose first bytes name the client `clientName` (node-redis sends `CLIENT SETNAME <name>` as it connects: the library
 * names its command connection `rx:commands`): such a connection attempt fails, as when Redis restarts or a loaded
 * machine times the attempt out, while other clients' connections, and every later one, are forwarded. With `hold`,
 * such a connection is accepted and answered nothing instead (a frozen node, or one behind a black hole). Proxies given
 * one {@link FailureBudget} share it: the first `left` such connections through any of them fail.
 */
/** How many more connections fail, shared by the proxies it is given to. */
export interface FailureBudget {
  left: number;
}

export class ResettingProxy {
  private readonly open = new Set<Socket>();
  /** Connections reset so far. */
  reset = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async launch(targetPort: number, clientName: string, resets: number | FailureBudget, mode: 'reset' | 'hold' = 'reset'): Promise<ResettingProxy> {
    const budget = typeof resets === 'number' ? { left: resets } : resets;
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new ResettingProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (client) => {
      client.on('error', () => undefined);
      proxy.open.add(client);
      client.on('close', () => proxy.open.delete(client));
      client.once('data', (first: Buffer) => {
        if (budget.left > 0 && first.includes(clientName)) {
          budget.left--;
          proxy.reset++;
          if (mode === 'reset') client.resetAndDestroy();
          // Read and drop what it sends: nothing ever answers.
          else client.resume();
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
