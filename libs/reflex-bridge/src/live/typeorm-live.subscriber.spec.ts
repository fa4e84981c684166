import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Column, DataSource, DeleteDateColumn, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { LiveBroadcaster } from './live-broadcaster.service.js';
import { LiveModelRegistry } from './live-model.registry.js';
import { LiveTransport } from './live-transport.js';
import { LiveTransportError } from './live-transport.error.js';
import type { ModelChange } from './model-change.js';
import { TypeormLiveSubscriber } from './typeorm-live.subscriber.js';

@Entity()
class Product {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column('text')
  name!: string;

  @DeleteDateColumn({ type: 'datetime', nullable: true })
  deletedAt?: Date | null;
}

@Entity()
class StockLine {
  @PrimaryColumn('text')
  warehouse!: string;

  @PrimaryColumn('integer')
  productId!: number;

  @Column('integer')
  quantity!: number;
}

@Entity()
class AuditEntry {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column('text')
  note!: string;
}

/** Keyed by raw bytes (a Postgres `bytea`, a SQLite `blob`): a hash, a binary UUID. */
@Entity()
class Blob {
  @PrimaryColumn('blob')
  digest!: Buffer;

  @Column('text')
  name!: string;
}

/** A composite key with a binary part. */
@Entity()
class BlobPart {
  @PrimaryColumn('blob')
  digest!: Buffer;

  @PrimaryColumn('integer')
  part!: number;
}

/** A value-object key: the entity holds `{ code }`, the column the code (a transformer maps between them). */
@Entity()
class Sku {
  @PrimaryColumn({ type: 'text', transformer: { to: (value?: { code: string }) => value?.code, from: (code: string) => ({ code }) } })
  sku!: { code: string };

  @Column('text')
  name!: string;
}

/** A transport that is down: every publish fails. */
class DownTransport extends LiveTransport {
  override async start(): Promise<void> {}
  override async publish(): Promise<void> {
    throw new LiveTransportError('unavailable', 'transport down (expected by the test)');
  }
  override async close(): Promise<void> {}
}

/** Waits, turn after turn of the event loop, for `condition`. */
async function eventually(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 10_000 && !condition(); turn++) await new Promise<void>((resolve) => setImmediate(resolve));
  expect(condition()).toBe(true);
}

describe('TypeormLiveSubscriber (real better-sqlite3 DataSource)', () => {
  let dataSource: DataSource;
  let broadcaster: LiveBroadcaster;
  let registry: LiveModelRegistry;
  let seen: ModelChange[];

  const summary = () => seen.map((c) => `${c.modelLabel} ${c.action} ${c.pk}`);

  beforeEach(async () => {
    registry = new LiveModelRegistry();
    registry.register(Product, 'shop.product');
    registry.register(StockLine, 'shop.stock');
    registry.register(Blob, 'shop.blob');
    registry.register(BlobPart, 'shop.blob_part');
    registry.register(Sku, 'shop.sku');
    broadcaster = new LiveBroadcaster();
    seen = [];
    for (const label of ['shop.product', 'shop.stock', 'shop.audit', 'shop.blob', 'shop.blob_part', 'shop.sku']) {
      broadcaster.observe(label).subscribe((change) => seen.push(change));
    }
    dataSource = new DataSource({
      type: 'better-sqlite3',
      database: ':memory:',
      entities: [Product, StockLine, AuditEntry, Blob, BlobPart, Sku],
      synchronize: true,
    });
    await dataSource.initialize();
    new TypeormLiveSubscriber(broadcaster, registry).attach(dataSource);
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await dataSource.destroy();
    await broadcaster.close();
  });

  it('publishes created / updated / deleted for save and remove, with the primary key', async () => {
    const products = dataSource.getRepository(Product);
    const lamp = await products.save(products.create({ name: 'Lamp' }));
    // Published (and delivered locally) by the time save() resolves.
    expect(summary()).toEqual([`shop.product created ${lamp.id}`]);
    lamp.name = 'Desk lamp';
    await products.save(lamp);
    const id = lamp.id;
    await products.remove(lamp);
    expect(summary()).toEqual([`shop.product created ${id}`, `shop.product updated ${id}`, `shop.product deleted ${id}`]);
    expect(typeof seen[0].pk).toBe('number');
  });

  it('publishes deleted for a soft remove and created for a recover', async () => {
    const products = dataSource.getRepository(Product);
    const lamp = await products.save(products.create({ name: 'Lamp' }));
    await products.softRemove(lamp);
    await products.recover(lamp);
    expect(summary()).toEqual([
      `shop.product created ${lamp.id}`,
      `shop.product deleted ${lamp.id}`,
      `shop.product created ${lamp.id}`,
    ]);
  });

  it('publishes one refetch for a transaction that changed more rows of a model than refetchAbove, a change per row otherwise', async () => {
    const measured = async (subscriber: TypeormLiveSubscriber, rows: number, productId: number) => {
      subscriber.attach(dataSource);
      seen = [];
      try {
        await dataSource.transaction(async (manager) => {
          await manager.save(Array.from({ length: rows }, (_, index) => manager.create(Product, { name: `bulk ${index}` })), { chunk: 500 });
          await manager.save(manager.create(StockLine, { warehouse: 'north', productId, quantity: 3 }));
        });
      } finally {
        subscriber.detach(dataSource);
      }
      return summary();
    };
    dataSource.subscribers.splice(0);
    // Without the option, as before: 5,000 messages for a 5,000-row transaction.
    const perRow = await measured(new TypeormLiveSubscriber(broadcaster, registry), 5_000, 1);
    expect(perRow).toHaveLength(5_001);
    const bulk = new TypeormLiveSubscriber(broadcaster, registry, { refetchAbove: 1_000 });
    expect(await measured(bulk, 5_000, 2)).toEqual(['shop.product refetch *', 'shop.stock created ["north",2]']);
    // At the threshold, the rows as ever.
    expect(await measured(bulk, 1_000, 3)).toHaveLength(1_001);
    expect(() => new TypeormLiveSubscriber(broadcaster, registry, { refetchAbove: -1 })).toThrow(/refetchAbove/);
  }, 30_000);

  it('refuses an option it does not know, naming it: a misspelt one was ignored and its default used', () => {
    expect(() => new TypeormLiveSubscriber(broadcaster, registry, { refetchOver: 1_000 } as never)).toThrow(
      'TypeormLiveSubscriber: unknown option "refetchOver" (it takes "refetchAbove")',
    );
    expect(() => new TypeormLiveSubscriber(broadcaster, registry, { refetchAbove: 1_000 })).not.toThrow();
  });

  it('ignores entities that are not live, and stops after unregister', async () => {
    await dataSource.getRepository(AuditEntry).save({ note: 'x' });
    registry.unregister(Product);
    await dataSource.getRepository(Product).save({ name: 'Lamp' });
    expect(seen).toHaveLength(0);
  });

  it('encodes a composite primary key as a JSON array in primary-column order', async () => {
    await dataSource.getRepository(StockLine).save({ warehouse: 'north', productId: 7, quantity: 3 });
    expect(summary()).toEqual(['shop.stock created ["north",7]']);
  });

  it('encodes a binary (Buffer) primary key as lowercase hex, losslessly, alone or in a composite key', async () => {
    const blobs = dataSource.getRepository(Blob);
    // Not UTF-8: decoded as text, both keys became the same "\ufffd\u0001" and a change of one reached the other.
    const first = await blobs.save({ digest: Buffer.from([0xff, 0x01]), name: 'a' });
    await blobs.save({ digest: Buffer.from([0xfe, 0x01]), name: 'b' });
    await blobs.remove(first);
    await dataSource.getRepository(BlobPart).save({ digest: Buffer.from([0x00, 0xab]), part: 2 });
    expect(summary()).toEqual(['shop.blob created ff01', 'shop.blob created fe01', 'shop.blob deleted ff01', 'shop.blob_part created ["00ab",2]']);
    expect(Buffer.from(String(seen[0].pk), 'hex')).toEqual(Buffer.from([0xff, 0x01]));
  });

  it('encodes a value-object primary key as its JSON, so two keys never publish the same pk', async () => {
    const skus = dataSource.getRepository(Sku);
    // Before: String() made both "[object Object]": a list matching rows by key removed every row on one deletion.
    const lamp = await skus.save({ sku: { code: 'LAMP-1' }, name: 'Lamp' });
    await skus.save({ sku: { code: 'DESK-2' }, name: 'Desk' });
    await skus.remove(lamp);
    expect(summary()).toEqual(['shop.sku created {"code":"LAMP-1"}', 'shop.sku created {"code":"DESK-2"}', 'shop.sku deleted {"code":"LAMP-1"}']);
  });

  it('publishes inside a transaction only after it commits', async () => {
    let duringTransaction = -1;
    await dataSource.transaction(async (manager) => {
      await manager.save(Product, { name: 'A' });
      await manager.save(Product, { name: 'B' });
      duringTransaction = seen.length;
    });
    expect(duringTransaction).toBe(0);
    expect(summary()).toEqual(['shop.product created 1', 'shop.product created 2']);
  });

  it('publishes nothing for a transaction that rolls back', async () => {
    await expect(
      dataSource.transaction(async (manager) => {
        await manager.save(Product, { name: 'A' });
        throw new Error('rollback (expected by the test)');
      }),
    ).rejects.toThrow(/rollback/);
    expect(seen).toHaveLength(0);
    expect(await dataSource.getRepository(Product).count()).toBe(0);
  });

  it('drops what a rolled-back savepoint recorded and keeps the outer changes', async () => {
    const runner = dataSource.createQueryRunner();
    await runner.startTransaction();
    await runner.manager.save(Product, { name: 'kept' });
    await runner.startTransaction(); // savepoint
    await runner.manager.save(Product, { name: 'rolled back' });
    await runner.rollbackTransaction(); // to the savepoint
    await runner.startTransaction(); // another savepoint, released
    await runner.manager.save(Product, { name: 'released' });
    await runner.commitTransaction();
    expect(seen).toHaveLength(0); // the outer transaction is still open
    await runner.commitTransaction();
    await runner.release();
    const rows = await dataSource.getRepository(Product).find({ order: { id: 'ASC' } });
    expect(rows.map((p) => p.name)).toEqual(['kept', 'released']);
    // SQLite reuses the rolled-back row's id, so the ids come from the table rather than being assumed.
    expect(summary()).toEqual(rows.map((p) => `shop.product created ${p.id}`));
    expect(seen).toHaveLength(2);
  });

  it('keeps what a released savepoint recorded when a later savepoint rolls back', async () => {
    const runner = dataSource.createQueryRunner();
    await runner.startTransaction();
    await runner.startTransaction(); // savepoint, released
    await runner.manager.save(Product, { name: 'released' });
    await runner.commitTransaction();
    await runner.startTransaction(); // another savepoint at the same level, rolled back
    await runner.manager.save(Product, { name: 'rolled back' });
    await runner.rollbackTransaction();
    await runner.commitTransaction();
    await runner.release();
    const rows = await dataSource.getRepository(Product).find();
    expect(rows.map((p) => p.name)).toEqual(['released']);
    expect(summary()).toEqual(rows.map((p) => `shop.product created ${p.id}`));
  });

  it('publishes created for a QueryBuilder insert and repository.insert, with the generated ids', async () => {
    await dataSource.createQueryBuilder().insert().into(Product).values({ name: 'Lamp' }).execute();
    await dataSource.getRepository(Product).insert([{ name: 'Desk' }, { name: 'Shelf' }]);
    expect(summary()).toEqual(['shop.product created 1', 'shop.product created 2', 'shop.product created 3']);
  });

  // Each path a user may take to change rows without an entity: TypeORM names the model, not the rows, so the
  // subscriber publishes a model-wide refetch (it published nothing before, and tabs stayed stale).
  const bulkPaths: Array<[string, (ds: DataSource) => Promise<unknown>]> = [
    ['QueryBuilder update', (ds) => ds.createQueryBuilder().update(Product).set({ name: 'Renamed' }).where('id = :id', { id: 1 }).execute()],
    ['repository.update(id, partial)', (ds) => ds.getRepository(Product).update(1, { name: 'Renamed' })],
    ['repository.update(criteria, partial)', (ds) => ds.getRepository(Product).update({ name: 'Lamp' }, { name: 'Renamed' })],
    ['repository.increment', (ds) => ds.getRepository(StockLine).increment({ warehouse: 'north' }, 'quantity', 1)],
    ['repository.decrement', (ds) => ds.getRepository(StockLine).decrement({ warehouse: 'north' }, 'quantity', 1)],
    ['QueryBuilder delete', (ds) => ds.createQueryBuilder().delete().from(Product).where('id = :id', { id: 1 }).execute()],
    ['repository.delete(id)', (ds) => ds.getRepository(Product).delete(1)],
    ['repository.delete(criteria)', (ds) => ds.getRepository(Product).delete({ name: 'Lamp' })],
    ['repository.softDelete(id)', (ds) => ds.getRepository(Product).softDelete(1)],
    ['repository.clear()', (ds) => ds.getRepository(Product).clear()],
  ];

  it.each(bulkPaths)('publishes a refetch of the model for %s', async (_, change) => {
    await dataSource.getRepository(Product).insert({ name: 'Lamp' });
    await dataSource.getRepository(StockLine).insert({ warehouse: 'north', productId: 1, quantity: 3 });
    seen.length = 0;
    await change(dataSource);
    expect(seen).toHaveLength(1);
    expect(seen[0].isRefetch).toBe(true);
    expect([`${seen[0].modelLabel} ${seen[0].action}`]).toEqual([expect.stringMatching(/^shop\.(product|stock) refetch$/)]);
  });

  it('publishes a refetch, not the new key, for a QueryBuilder update that sets the primary key', async () => {
    await dataSource.getRepository(Product).insert({ name: 'Lamp' });
    seen.length = 0;
    // The row shown as #1 is now #9: announcing "updated 9" left every tab showing a row #1 that no longer exists.
    await dataSource.getRepository(Product).update(1, { id: 9 });
    await dataSource.createQueryBuilder().update(Product).set({ id: 10, name: 'Lamp 10' }).where('id = :id', { id: 9 }).execute();
    expect(summary()).toEqual(['shop.product refetch *', 'shop.product refetch *']);
  });

  it('publishes one refetch per model after a transaction of bulk changes commits, none when it rolls back', async () => {
    await dataSource.getRepository(Product).insert([{ name: 'A' }, { name: 'B' }]);
    seen.length = 0;
    await expect(
      dataSource.transaction(async (manager) => {
        await manager.update(Product, 1, { name: 'A2' });
        await manager.clear(Product);
        throw new Error('rollback (expected by the test)');
      }),
    ).rejects.toThrow(/rollback/);
    expect(seen).toHaveLength(0);
    let during = -1;
    await dataSource.transaction(async (manager) => {
      await manager.update(Product, 1, { name: 'A2' });
      await manager.delete(Product, 2);
      await manager.save(Product, { name: 'C' });
      during = seen.length;
    });
    expect(during).toBe(0);
    expect(summary()).toEqual(['shop.product refetch *', 'shop.product created 3']);
  });

  it('publishes nothing for raw SQL through query() (not seen by TypeORM subscribers)', async () => {
    await dataSource.getRepository(Product).insert({ name: 'Lamp' });
    seen.length = 0;
    await dataSource.query('UPDATE product SET name = ? WHERE id = ?', ['Renamed', 1]);
    expect(seen).toHaveLength(0);
  });

  it("never fails the caller's save when publishing fails; it logs instead", async () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const down = new LiveBroadcaster(new DownTransport());
    const other = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Product], synchronize: true });
    await other.initialize();
    try {
      new TypeormLiveSubscriber(down, registry).attach(other);
      const saved = await other.getRepository(Product).save({ name: 'Lamp' });
      expect(saved.id).toBe(1);
      expect(String(error.mock.calls[0]?.[0])).toMatch(/Could not publish the live change created "shop\.product" #1: transport down/);
    } finally {
      await other.destroy();
      await down.close();
    }
  });

  it('logs one error for an outage, not one per save, and one line when publishing works again', async () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
    let down = true;
    class FlakyTransport extends LiveTransport {
      private deliver?: (change: ModelChange) => void;
      override async start(onChange: (change: ModelChange) => void): Promise<void> {
        this.deliver = onChange;
      }
      override async publish(change: ModelChange): Promise<void> {
        if (down) throw new LiveTransportError('unavailable', 'transport down (expected by the test)');
        this.deliver?.(change);
      }
      override async close(): Promise<void> {}
    }
    const flaky = new LiveBroadcaster(new FlakyTransport());
    const other = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Product], synchronize: true });
    await other.initialize();
    try {
      new TypeormLiveSubscriber(flaky, registry).attach(other);
      for (let i = 0; i < 50; i += 1) await other.getRepository(Product).save({ name: `Lamp ${i}` });
      expect(error).toHaveBeenCalledTimes(1);
      expect(String(error.mock.calls[0]?.[0])).toMatch(/Could not publish the live change created "shop\.product" #1: transport down.*further failures are logged at debug level/);
      down = false;
      await other.getRepository(Product).save({ name: 'Back' });
      await other.getRepository(Product).save({ name: 'Again' });
      const back = log.mock.calls.map((call) => String(call[0])).filter((line) => /Publishing live changes works again/.test(line));
      expect(back).toEqual([expect.stringMatching(/after 50 failed/)]);
      down = true;
      await other.getRepository(Product).save({ name: 'Second outage' });
      expect(error).toHaveBeenCalledTimes(2);
    } finally {
      await other.destroy();
      await flaky.close();
    }
  });

  it('publishes a refetch of each model whose changes the transport refused, once it is back', async () => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
    class RestartingTransport extends LiveTransport {
      down = false;
      private deliver?: (change: ModelChange) => void;
      override async start(onChange: (change: ModelChange) => void): Promise<void> {
        this.deliver = onChange;
      }
      override async publish(change: ModelChange): Promise<void> {
        if (this.down) throw new LiveTransportError('unavailable', 'Redis is restarting (expected by the test)');
        this.deliver?.(change);
      }
      override isConnected(): boolean {
        return !this.down;
      }
      override async close(): Promise<void> {}
      set(down: boolean): void {
        this.down = down;
        this.connectionChanged();
      }
    }
    const transport = new RestartingTransport();
    const restarting = new LiveBroadcaster(transport);
    const received: string[] = [];
    restarting.observe('shop.product').subscribe((change) => received.push(`${change.action} ${change.pk}`));
    restarting.observe('shop.stock').subscribe((change) => received.push(`stock ${change.action} ${change.pk}`));
    const other = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Product, StockLine], synchronize: true });
    await other.initialize();
    try {
      new TypeormLiveSubscriber(restarting, registry).attach(other);
      await restarting.start();
      transport.set(true);
      for (let i = 0; i < 3; i += 1) await other.getRepository(Product).save({ name: `Lamp ${i}` });
      await other.getRepository(StockLine).save({ warehouse: 'north', productId: 1, quantity: 2 });
      expect(received).toEqual([]);
      // Back, and nobody saves anything: before, the three lamps and the stock line never reached any list.
      transport.set(false);
      await eventually(() => received.length === 2);
      expect(received.sort()).toEqual(['refetch *', 'stock refetch *']);
      // Nothing more is owed.
      await other.getRepository(Product).save({ name: 'Next' });
      expect(received.slice(2)).toEqual(['created 4']);
    } finally {
      await other.destroy();
      await restarting.close();
    }
  });

  it('attaches once and detaches', () => {
    const subscriber = new TypeormLiveSubscriber(broadcaster, registry);
    const before = dataSource.subscribers.length;
    subscriber.attach(dataSource).attach(dataSource);
    expect(dataSource.subscribers.length).toBe(before + 1);
    subscriber.detach(dataSource);
    expect(dataSource.subscribers.length).toBe(before);
  });
});
