import { createServer, connect, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket;
  silenced: boolean;
  /** Chunks the client wrote that went through to the target. */
  writes: number;
}

/**
 * A TCP proxy on a free loopback port in front of `targetPort`, whose connections can be silenced one by one: a
 * silenced connection stays open at both ends but nothing more goes through it either way, as on a network path
 * that drops packets (a partition, a NAT that forgot the flow). Nothing is reset, so neither end hears of it.
 */
export class SilencingProxy {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly pairs: Pair[],
  ) {}

  static async launch(targetPort: number): Promise<SilencingProxy> {
    const pairs: Pair[] = [];
    const server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      const pair: Pair = { client, upstream, silenced: false, writes: 0 };
      pairs.push(pair);
      client.on('data', (chunk) => {
        if (pair.silenced) return;
        pair.writes += 1;
        upstream.write(chunk);
      });
      upstream.on('data', (chunk) => void (pair.silenced || client.write(chunk)));
      client.on('close', () => pair.silenced || upstream.destroy());
      upstream.on('close', () => pair.silenced || client.destroy());
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new SilencingProxy(server, (server.address() as { port: number }).port, pairs);
  }

  /** Connections accepted so far, in order. */
  get connections(): number {
    return this.pairs.length;
  }

  /** How many chunks the client of connection `index` wrote that went through to the target (its commands). */
  writesFromClient(index: number): number {
    return this.pairs[index]!.writes;
  }

  /**
   * The index of the connection whose upstream end (towards the target) has local port `port`, or -1: the target
   * sees that port as the client's (Redis's `CLIENT LIST` `addr`), which tells which connection is which.
   */
  indexOfUpstreamPort(port: number): number {
    return this.pairs.findIndex((pair) => pair.upstream.localPort === port);
  }

  /** From now on nothing goes through connection `index` (0 for the first accepted), and it is never closed. */
  silence(index: number): void {
    this.pairs[index]!.silenced = true;
  }

  /**
   * Closes connection `index` at both ends, silenced or not: the network path comes back broken, and the client
   * notices (and reconnects through the proxy), as after a partition ends in a reset.
   */
  cut(index: number): void {
    const { client, upstream } = this.pairs[index]!;
    client.destroy();
    upstream.destroy();
  }

  /** Closes every connection and stops listening. */
  async destroy(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }
}
