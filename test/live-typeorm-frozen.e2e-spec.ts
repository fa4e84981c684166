import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { LiveBroadcaster } from '../libs/reflex-bridge/src/live/live-broadcaster.service.js';
import { LiveModelRegistry } from '../libs/reflex-bridge/src/live/live-model.registry.js';
import type { ModelChange } from '../libs/reflex-bridge/src/live/model-change.js';
import { RedisTransport } from '../libs/reflex-bridge/src/live/transports/redis.transport.js';
import { TypeormLiveSubscriber } from '../libs/reflex-bridge/src/live/typeorm-live.subscriber.js';
import { eventually } from './support/eventually.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

@Entity('frozen_product')
class FrozenProduct {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column('text')
  name!: string;
}

/** Resolves with `what`'s value, or rejects once `ms` have passed: "did not hang" against a generous deadline. */
function within<T>(what: string, work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/**
 * A worker whose live transport's Redis freezes (SIGSTOP: connections open, nothing answered) while the app keeps
 * saving entities through TypeORM. The app's own database is fine: its saves must not wait on the live transport.
 */
describeWithRedis('TypeormLiveSubscriber while the live transport is frozen (real redis-server)', () => {
  let server: RedisTestServer;
  let broker: LiveBroadcaster;
  let dataSource: DataSource;
  const seen: ModelChange[] = [];

  beforeAll(async () => {
    server = await RedisTestServer.launch();
    // Timeouts far longer than the test's deadline: a save that waits on the transport waits for them.
    broker = new LiveBroadcaster(new RedisTransport({ url: server.url, channel: `frozen_${process.pid}`, publishTimeoutMs: 120_000 }), { echoTimeoutMs: 120_000 });
    await broker.start();
    broker.observe('shop.product').subscribe((change) => seen.push(change));
    const registry = new LiveModelRegistry();
    registry.register(FrozenProduct, 'shop.product');
    dataSource = await new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [FrozenProduct], synchronize: true }).initialize();
    new TypeormLiveSubscriber(broker, registry).attach(dataSource);
  }, 60_000);

  afterEach(() => server.resume());

  afterAll(async () => {
    server?.resume();
    await dataSource?.destroy();
    await broker?.close();
    await server?.stop();
  }, 60_000);

  it('saves (one by one and in a transaction) do not wait for a frozen transport, and their changes arrive once it wakes', async () => {
    const products = dataSource.getRepository(FrozenProduct);
    const lamp = await products.save({ name: 'Lamp' });
    await eventually('the first change delivered', () => seen.length, (count) => count === 1);

    server.pause();
    // Before: each save waited for its PUBLISH to be answered (publishTimeoutMs) and its echo (echoTimeoutMs), one
    // change after the other: a transaction of three saves held its caller for 3 × the timeouts.
    await within('a save while the transport is frozen', products.save({ id: lamp.id, name: 'Desk lamp' }), 20_000);
    await within(
      'a transaction of three saves while the transport is frozen',
      dataSource.transaction(async (manager) => {
        for (const name of ['A', 'B', 'C']) await manager.save(FrozenProduct, { name });
      }),
      20_000,
    );
    await within('an update(criteria) while the transport is frozen', products.update({ name: 'A' }, { name: 'AA' }), 20_000);
    expect(seen).toHaveLength(1);

    server.resume();
    // Published in the background, in order, once Redis answers again.
    const changes = await eventually('the changes made while frozen', () => seen.map((c) => `${c.action} ${c.pk}`), (all) => all.length === 6);
    expect(changes).toEqual([`created ${lamp.id}`, `updated ${lamp.id}`, 'created 2', 'created 3', 'created 4', 'refetch *']);
  }, 120_000);
});
