import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on a free loopback port in front of `targetPort` that can hold back what a client sends from the first
 * chunk holding a given Redis command (`subscribe`, say) until the test lets it through: the server hears nothing of
 * it until {@link release}, as when its answer is slow to come, while every other connection and the answers flow as
 * ever.
 */
export class HoldingProxy {
  private markers: Buffer[] = [];
  /** Chunks held back, with the connection they are for, in order. */
  private readonly held: Array<{ upstream: Socket; chunk: Buffer }> = [];
  /** The connections whose sending is held (from the chunk with the marker on). */
  private readonly holding = new Set<Socket>();

  private readonly sockets: Socket[] = [];
  private readonly server: Server;

  private constructor(targetPort: number) {
    this.server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      this.sockets.push(client, upstream);
      client.on('data', (chunk: Buffer) => this.forward(upstream, chunk));
      upstream.on('data', (chunk) => void client.write(chunk));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
  }

  static async launch(targetPort: number): Promise<HoldingProxy> {
    const proxy = new HoldingProxy(targetPort);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** The loopback port it listens on. */
  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /**
   * From now on, a connection that sends Redis command `name` (`subscribe`: the command itself, not `psubscribe` or
   * `unsubscribe`; node-redis writes names in lower case, redis-cli in upper case) is held from that chunk on.
   */
  holdCommand(name: string): void {
    this.markers = [name.toLowerCase(), name.toUpperCase()].map((text) => Buffer.from(`$${text.length}\r\n${text}\r\n`));
  }

  /** True once something was held back. */
  get holdingAny(): boolean {
    return this.held.length > 0;
  }

  /** Sends on what was held back, in order, and holds nothing more. */
  release(): void {
    this.markers = [];
    this.holding.clear();
    for (const { upstream, chunk } of this.held.splice(0)) upstream.write(chunk);
  }

  /** Closes every connection and stops listening. */
  async destroy(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private forward(upstream: Socket, chunk: Buffer): void {
    if (this.markers.some((marker) => chunk.includes(marker))) this.holding.add(upstream);
    if (this.holding.has(upstream)) this.held.push({ upstream, chunk });
    else upstream.write(chunk);
  }
}
