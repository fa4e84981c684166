/**
 * Cookie handoffs kept in Redis (the module's shared connections) while Redis is frozen: connected, not answering.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { CookieHandoffService } from '../libs/reflex-bridge/src/bridge/session/cookie-handoff.service.js';
import { RedisConnections } from '../libs/reflex-bridge/src/common/redis-connections.js';
import { loadRedisKeyv } from '../libs/reflex-bridge/src/common/keyv-redis.loader.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

/** What `promise` gives within `ms` ('rejected: <message>' when it rejects), or 'still waiting'. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still waiting'), ms)));
  try {
    return await Promise.race([promise.catch((error: Error) => `rejected: ${error.message}`), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describeWithRedis('CookieHandoffService on Redis', () => {
  let server: RedisTestServer;
  let connections: RedisConnections;

  beforeAll(async () => {
    server = await RedisTestServer.launch();
    connections = await RedisConnections.create({ url: server.url, maxReconnectDelayMs: 200 });
    await connections.ready();
  }, 30_000);

  afterAll(async () => {
    await connections?.close();
    await server?.destroy();
  });

  it('a frozen Redis (SIGSTOP): issuing fails and redeeming refuses within bounded time, instead of waiting for Redis', async () => {
    const handoffs = new CookieHandoffService({ redisUrl: undefined }, connections, await loadRedisKeyv());
    const tab = 'tab-token-1';
    const issued = await handoffs.issue(['sid=new'], {}, tab);
    server.pause();
    let issuing: unknown;
    let redeeming: unknown;
    try {
      [issuing, redeeming] = await Promise.all([
        within(handoffs.issue(['sid=other'], {}, tab), 15_000),
        within(handoffs.redeem(issued.id, { cookies: {}, secret: issued.secret, clientToken: tab }), 15_000),
      ]);
    } finally {
      server.resume();
    }
    expect(issuing).toMatch(/^rejected: .*did not answer within/);
    expect(redeeming).toBeUndefined();
    // Once Redis answers again, the handoff issued before is still there for its tab.
    await connections.commands.ping();
    expect(await handoffs.redeem(issued.id, { cookies: {}, secret: issued.secret, clientToken: tab })).toEqual(['sid=new']);
  }, 40_000);
});
