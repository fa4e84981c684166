import type { Logger } from '@nestjs/common';
import type { Namespace, Server } from 'socket.io';

type RedisClient = {
  connect(): Promise<unknown>;
  duplicate(options?: { disableOfflineQueue?: boolean }): RedisClient;
  quit(): Promise<unknown>;
  destroy(): void;
  readonly isReady: boolean;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options?: { EX?: number }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
};

/** Deletes the token's socket record only if it still names this socket (a newer one may have taken over). */
const RELEASE_SCRIPT = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/**
 * What several workers share through Redis: the Socket.IO Redis adapter (so any worker reaches any socket,
 * and server-side messages reach every worker) and the record of which socket holds each client token.
 *
 * Reflex keeps a token's socket record until it expires, so a client whose worker died gets a new token
 * (and loses its state) when it reconnects elsewhere. Here a record only counts while its socket is alive
 * somewhere in the cluster (asked through the adapter), so only a genuinely duplicated tab gets `new_token`.
 */
export class ClusterLink {
  private constructor(
    private readonly clients: RedisClient[],
    private readonly data: RedisClient,
    private readonly namespace: Namespace,
    private readonly recordTtlSeconds: number,
    private readonly logger: Logger,
  ) {}

  /** Connects to Redis and installs the adapter on `server`. */
  static async connect(url: string, server: Server, path: string, recordTtlSeconds: number, logger: Logger): Promise<ClusterLink> {
    // Optional peers: loaded only when the app runs several workers.
    const [{ createClient }, { createAdapter }] = await Promise.all([import('redis'), import('@socket.io/redis-adapter')]);
    const pub = createClient({ url }) as unknown as RedisClient;
    const sub = pub.duplicate();
    // Token records are read while a socket is admitted: fail at once while Redis is down (claimToken then keeps
    // the token) instead of queueing until it is back, which would leave the new socket's events unanswered.
    const data = pub.duplicate({ disableOfflineQueue: true });
    const clients = [pub, sub, data];
    for (const client of clients) client.on('error', (error) => logger.warn(`Cluster Redis connection: ${(error as Error).message}`));
    await Promise.all(clients.map((client) => client.connect()));
    server.adapter(createAdapter(pub, sub, { key: 'rx:io', requestsTimeout: 2000 }));
    return new ClusterLink(clients, data, server.of(path), recordTtlSeconds, logger);
  }

  /**
   * Claims `token` for socket `sid`. Returns false when another live socket anywhere holds it (a duplicated
   * tab: the caller issues a new token). A record left by a dead socket or worker is taken over.
   */
  async claimToken(token: string, sid: string): Promise<boolean> {
    const key = this.recordKey(token);
    try {
      const holder = await this.data.get(key);
      if (holder && holder !== sid) {
        const alive = await this.namespace.in(holder).fetchSockets();
        if (alive.length > 0) return false;
      }
      await this.data.set(key, sid, { EX: this.recordTtlSeconds });
    } catch (error) {
      // Without Redis we cannot tell: keeping the token is the choice that never loses state.
      this.logger.warn(`Could not check the owner of a client token: ${(error as Error).message}`);
    }
    return true;
  }

  /** Forgets the token's record if it still names `sid`. */
  async releaseToken(token: string, sid: string): Promise<void> {
    await this.data.eval(RELEASE_SCRIPT, { keys: [this.recordKey(token)], arguments: [sid] }).catch(() => undefined);
  }

  async close(): Promise<void> {
    // QUIT is queued while a connection is down and would never resolve (the app's shutdown would hang): drop
    // such connections, and give a connected one a bounded time to quit.
    await Promise.all(
      this.clients.map(async (client) => {
        if (!client.isReady) return client.destroy();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), 2000)));
        const result = await Promise.race([client.quit().catch(() => 'failed' as const), timeout]);
        clearTimeout(timer);
        if (result === 'timeout' || result === 'failed') client.destroy();
      }),
    );
  }

  private recordKey(token: string): string {
    return `rx:socket:${token}`;
  }
}
