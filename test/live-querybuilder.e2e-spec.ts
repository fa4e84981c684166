import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, expect, it } from '@jest/globals';
import { Column, DataSource, DeleteDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { applyLiveChange } from '../libs/reflex-bridge/src/live/live-list-apply.js';
import { LiveBroadcaster } from '../libs/reflex-bridge/src/live/live-broadcaster.service.js';
import type { LiveListDefinition } from '../libs/reflex-bridge/src/live/live-list.decorator.js';
import { LiveModelRegistry } from '../libs/reflex-bridge/src/live/live-model.registry.js';
import type { ModelChange } from '../libs/reflex-bridge/src/live/model-change.js';
import { PostgresTransport } from '../libs/reflex-bridge/src/live/transports/postgres.transport.js';
import { TypeormLiveSubscriber } from '../libs/reflex-bridge/src/live/typeorm-live.subscriber.js';
import { eventually } from './support/eventually.js';
import { describeWithPostgres, PostgresTestServer } from './support/postgres-server.js';

@Entity('qb_product')
class QbProduct {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column('text')
  name!: string;

  @Column('integer', { default: 0 })
  stock!: number;

  @DeleteDateColumn({ type: 'timestamptz', nullable: true })
  deletedAt?: Date | null;
}

interface Row {
  id: number;
  name: string;
  stock: number;
}

const LIST: LiveListDefinition = { property: 'rows', label: 'shop.product', key: 'id', paginated: false };

/**
 * Two workers on one Postgres: worker 0 writes through TypeORM with the live subscriber attached, worker 1 shows a
 * live list (a tab) whose `liveRow` reads the row from the database, and applies every change it receives.
 */
describeWithPostgres('Live updates for TypeORM writes that bypass entities (QueryBuilder, update, delete, increment) on Postgres', () => {
  let server: PostgresTestServer;
  let writer: DataSource;
  let reader: DataSource;
  const brokers: LiveBroadcaster[] = [];
  let tab: { rows: Row[]; liveRow: (change: ModelChange) => Promise<Row | undefined> };
  let applied: ModelChange[] = [];
  let chain: Promise<void> = Promise.resolve();

  const inDb = async () => (await reader.getRepository(QbProduct).find({ order: { id: 'ASC' } })).map(({ id, name, stock }) => ({ id, name, stock }));
  /** The tab shows what the database holds, once every change published so far has been applied. */
  const tabCatchesUp = async (what: string) => {
    const expected = await inDb();
    await eventually(what, async () => (await chain, tab.rows), (rows) => JSON.stringify(rows) === JSON.stringify(expected));
  };

  beforeAll(async () => {
    server = await PostgresTestServer.launch();
    const registry = new LiveModelRegistry();
    registry.register(QbProduct, 'shop.product');
    const channel = `qb_live_${process.pid}`;
    for (let i = 0; i < 2; i += 1) {
      const broker = new LiveBroadcaster(new PostgresTransport({ connectionString: server.connectionString, channel }));
      await broker.start();
      brokers.push(broker);
    }
    writer = await new DataSource({ type: 'postgres', url: server.connectionString, entities: [QbProduct], synchronize: true }).initialize();
    reader = await new DataSource({ type: 'postgres', url: server.connectionString, entities: [QbProduct] }).initialize();
    new TypeormLiveSubscriber(brokers[0], registry).attach(writer);
    brokers[1].observe('shop.product').subscribe((change) => {
      applied.push(change);
      // One change at a time, in order, as a live-list subscriber applies them.
      chain = chain.then(async () => applyLiveChange(tab as unknown as Record<string, unknown>, LIST, change, undefined));
    });
  }, 120_000);

  beforeEach(async () => {
    await writer.query('TRUNCATE qb_product RESTART IDENTITY');
    tab = { rows: [], liveRow: async () => undefined };
    applied = [];
    await writer.getRepository(QbProduct).insert([{ name: 'lamp' }, { name: 'desk' }, { name: 'shelf' }]);
    // The seed's own changes are through before the test starts.
    await eventually('the seed changes', () => applied.length, (count) => count === 3);
    await chain;
    tab = {
      rows: await inDb(),
      liveRow: async (change) => {
        const row = await reader.getRepository(QbProduct).findOneBy({ id: Number(change.pk) });
        return row ? { id: row.id, name: row.name, stock: row.stock } : undefined;
      },
    };
    applied = [];
  });

  afterAll(async () => {
    await writer?.destroy();
    await reader?.destroy();
    for (const broker of brokers) await broker.close();
    await server?.destroy();
  }, 60_000);

  const paths: Array<[string, (ds: DataSource) => Promise<unknown>]> = [
    ['QueryBuilder update().set().where().execute()', (ds) => ds.createQueryBuilder().update(QbProduct).set({ name: 'LAMP' }).where('id = :id', { id: 1 }).execute()],
    ['repository.update(criteria, partial)', (ds) => ds.getRepository(QbProduct).update({ name: 'desk' }, { name: 'DESK' })],
    ['repository.update(id, partial)', (ds) => ds.getRepository(QbProduct).update(3, { name: 'SHELF' })],
    ['repository.increment', (ds) => ds.getRepository(QbProduct).increment({ id: 2 }, 'stock', 5)],
    ['repository.decrement', (ds) => ds.getRepository(QbProduct).decrement({ name: 'lamp' }, 'stock', 1)],
    ['QueryBuilder delete()', (ds) => ds.createQueryBuilder().delete().from(QbProduct).where('id = :id', { id: 1 }).execute()],
    ['repository.delete(id)', (ds) => ds.getRepository(QbProduct).delete(2)],
    ['repository.softDelete(id)', (ds) => ds.getRepository(QbProduct).softDelete(3)],
    ['repository.clear() (TRUNCATE)', (ds) => ds.getRepository(QbProduct).clear()],
    ['QueryBuilder insert()', (ds) => ds.createQueryBuilder().insert().into(QbProduct).values({ name: 'chair' }).execute()],
    ['an update and a delete in one committed transaction', (ds) => ds.transaction(async (m) => {
      await m.update(QbProduct, 1, { name: 'LAMP' });
      await m.delete(QbProduct, 2);
    })],
  ];

  it.each(paths)('the tab on the other worker shows the change made through %s', async (_, change) => {
    const before = JSON.stringify(tab.rows);
    await change(writer);
    expect(JSON.stringify(await inDb())).not.toBe(before);
    await tabCatchesUp('the tab to show the database');
  }, 30_000);

  it('publishes nothing for a transaction of bulk changes that rolls back', async () => {
    await expect(
      writer.transaction(async (m) => {
        await m.update(QbProduct, 1, { name: 'never' });
        await m.delete(QbProduct, 2);
        throw new Error('rollback (expected by the test)');
      }),
    ).rejects.toThrow(/rollback/);
    // A later committed change, published after any the rollback could have published: once it arrives, nothing else did.
    await writer.getRepository(QbProduct).save({ id: 3, name: 'marker', stock: 0 });
    await eventually('the marker change', () => applied.map((c) => `${c.action} ${c.pk}`), (seen) => seen.includes('updated 3'));
    expect(applied.map((c) => `${c.action} ${c.pk}`)).toEqual(['updated 3']);
    await tabCatchesUp('the tab to show the marker');
  }, 30_000);

  it('the tab shows what a released savepoint changed when a later savepoint of the same transaction rolls back', async () => {
    const runner = writer.createQueryRunner();
    try {
      await runner.startTransaction();
      await runner.startTransaction(); // SAVEPOINT, released below
      await runner.manager.save(QbProduct, { id: 1, name: 'renamed in a released savepoint', stock: 0 });
      await runner.manager.update(QbProduct, 2, { name: 'bulk in a released savepoint' });
      await runner.commitTransaction();
      await runner.startTransaction(); // SAVEPOINT, rolled back below
      await runner.manager.delete(QbProduct, 3);
      await runner.rollbackTransaction();
      await runner.commitTransaction();
    } finally {
      await runner.release();
    }
    await tabCatchesUp('the tab to show the released savepoint');
  }, 30_000);

  it('the tab stops showing a row whose primary key a QueryBuilder update changed (not "updated <new key>")', async () => {
    await writer.getRepository(QbProduct).update(1, { id: 9 });
    // The row under its new key is not one the tab shows, so a refetch cannot find it: it appears on the next load.
    await eventually('row #1 gone from the tab', async () => (await chain, tab.rows.map((row) => row.id)), (ids) => JSON.stringify(ids) === '[2,3]');
  }, 30_000);
});
