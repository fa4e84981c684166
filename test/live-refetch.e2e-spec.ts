import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, expect, it } from '@jest/globals';
import { BridgeTier, EventHandler, LiveBroadcaster, LiveList, PostgresTransport, ReflexBridgeModule, State, TypeormLiveSubscriber, ModelChange } from '@reflex-bridge/nest';
import { Column, DataSource, Entity, PrimaryGeneratedColumn, type Repository } from 'typeorm';
import pg from 'pg';
import { LiveModelRegistry } from '../libs/reflex-bridge/src/live/live-model.registry.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { describeWithPostgres, PostgresTestServer } from './support/postgres-server.js';
import { RawSocket } from './support/raw-socket.js';

const LABEL = 'rf.product';
const PLAIN = 'reflex___state____state.stock_state';
const RELOADING = 'reflex___state____state.reloading_stock_state';

@Entity('rf_product')
class RfProduct {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column('text')
  name!: string;

  @Column('boolean', { name: 'in_stock' })
  inStock!: boolean;
}

interface Row {
  id: number;
  name: string;
}

let products: Repository<RfProduct>;
/** What the states' hooks were asked for: database reads of one row (`liveRow`) and of a whole list (`liveReload`). */
const READS = { rows: 0, reloads: 0 };
/** Holds every hook until the test opens it: a re-read in flight while a burst of refetches arrives. */
const GATE = { opened: Promise.resolve() as Promise<void>, open: () => {} };

/** Set while every `liveReload` fails (its database is down). */
const RELOADS_FAIL = { now: false };

/** A row no query finds: appended by its `created` only, so a list showing it has applied every change before it. */
const MARKER: Row = { id: 999, name: 'marker' };

const inStock = async (): Promise<Row[]> => (await products.find({ where: { inStock: true }, order: { id: 'ASC' } })).map(({ id, name }) => ({ id, name }));

/** A product as the lists show it, or undefined when it is not in stock. */
async function readRow(change: ModelChange): Promise<Row | undefined> {
  READS.rows += 1;
  await GATE.opened;
  if (change.pk === MARKER.id) return MARKER;
  const product = await products.findOneBy({ id: Number(change.pk) });
  return product?.inStock ? { id: product.id, name: product.name } : undefined;
}

/** The public list of products in stock, re-read row by row on a refetch. */
@State()
@BridgeTier('none')
class StockState {
  @LiveList(LABEL)
  products: Row[] = [];

  liveRow(change: ModelChange): Promise<Row | undefined> {
    return readRow(change);
  }

  @EventHandler()
  async load(): Promise<void> {
    this.products = await inStock();
  }
}

/** The same list, whose query runs again on a refetch (`liveReload`). */
@State()
@BridgeTier('none')
class ReloadingStockState {
  @LiveList(LABEL)
  products: Row[] = [];

  liveRow(change: ModelChange): Promise<Row | undefined> {
    return readRow(change);
  }

  @EventHandler()
  async load(): Promise<void> {
    this.products = await inStock();
  }

  async liveReload(property: string): Promise<Row[]> {
    expect(property).toBe('products');
    READS.reloads += 1;
    await GATE.opened;
    if (RELOADS_FAIL.now) throw new Error('the catalogue database is down (expected by the test)');
    return inStock();
  }
}

describeWithPostgres('live lists on a refetch (TypeORM bulk writes, NOTIFY bursts) over Postgres', () => {
  let server: PostgresTestServer;
  let app: RunningApp;
  let dataSource: DataSource;
  const channel = `rf_live_${process.pid}`;
  const sockets: RawSocket[] = [];
  const logger = new CapturingLogger();

  beforeAll(async () => {
    server = await PostgresTestServer.launch();
    dataSource = await new DataSource({ type: 'postgres', url: server.connectionString, entities: [RfProduct], synchronize: true }).initialize();
    products = dataSource.getRepository(RfProduct);
    app = await startApp({
      imports: [ReflexBridgeModule.forRoot({ live: { transport: new PostgresTransport({ connectionString: server.connectionString, channel }) } })],
      providers: [StockState, ReloadingStockState],
    }, undefined, logger);
    const registry = new LiveModelRegistry();
    registry.register(RfProduct, LABEL);
    new TypeormLiveSubscriber(app.app.get(LiveBroadcaster), registry).attach(dataSource);
  }, 120_000);

  beforeEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await dataSource.query('TRUNCATE rf_product RESTART IDENTITY');
    // Straight to the table: no live change for the set-up rows.
    await dataSource.query(`INSERT INTO rf_product (name, in_stock) VALUES ('Lamp', true), ('Desk', true), ('Chair', false)`);
    READS.rows = READS.reloads = 0;
    GATE.opened = Promise.resolve();
    RELOADS_FAIL.now = false;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await app?.close();
    await dataSource?.destroy();
    await server?.destroy();
  }, 60_000);

  /** A tab that loaded `state`'s list and subscribed to it. */
  async function tab(state: string): Promise<RawSocket> {
    const live = app.app.get(LiveBroadcaster);
    const socket = new RawSocket(app.url);
    sockets.push(socket);
    await socket.connected();
    await socket.hydrate();
    socket.send(`${state}.load`, {});
    await socket.untilVar(state, 'products', await inStock());
    const before = live.subscriberCount(LABEL);
    socket.send(`${state}.live_subscribe`, {});
    await socket.until(() => live.subscriberCount(LABEL) > before, undefined, 'the live subscription');
    return socket;
  }

  it('a list with liveReload shows the rows a bulk update moves into it (a refetch re-runs its query)', async () => {
    const reloading = await tab(RELOADING);
    const plain = await tab(PLAIN);
    // Every product in stock: a QueryBuilder update, published as one refetch of the model.
    await products.update({ inStock: false }, { inStock: true });
    const all = [{ id: 1, name: 'Lamp' }, { id: 2, name: 'Desk' }, { id: 3, name: 'Chair' }];
    await reloading.untilVar(RELOADING, 'products', all);
    // And out again, with a rename the list must show.
    await products.update({ id: 1 }, { name: 'Desk lamp' });
    await products.update({ id: 2 }, { inStock: false });
    await reloading.untilVar(RELOADING, 'products', [{ id: 1, name: 'Desk lamp' }, { id: 3, name: 'Chair' }]);
    // Without liveReload a refetch re-reads the rows shown (it cannot find the others): as documented.
    await plain.untilVar(PLAIN, 'products', [{ id: 1, name: 'Desk lamp' }]);
  });

  /**
   * 200 refetches in one burst (any role that can connect may NOTIFY the channel), while the first re-read is in
   * flight: each tab re-reads once for the one in flight and once for all the others, not 200 times.
   */
  it('a burst of refetches costs each list one re-read in flight and one after it, not one per refetch', async () => {
    const tabs = [await tab(PLAIN), await tab(PLAIN), await tab(RELOADING), await tab(RELOADING), await tab(RELOADING)];
    const live = app.app.get(LiveBroadcaster);
    let received = 0;
    const counting = live.observe(LABEL).subscribe((change) => (received += change.isRefetch ? 1 : 0));
    GATE.opened = new Promise((resolve) => (GATE.open = resolve));
    const burst = 200;
    const writer = new pg.Client({ connectionString: server.connectionString });
    await writer.connect();
    try {
      const change = (seq: number) => JSON.stringify({ modelLabel: LABEL, action: 'refetch', pk: '*', origin: { publisher: 'a-notifying-role', seq } });
      // One transaction: Postgres delivers the 200 notifications together when it commits.
      await writer.query('SELECT pg_notify($1, n::text) FROM unnest($2::text[]) AS n', [channel, Array.from({ length: burst }, (_, i) => change(i + 1))]);
    } finally {
      await writer.end();
    }
    await eventually('the burst received', () => received, (count) => count === burst);
    counting.unsubscribe();
    GATE.open();
    await live.publish(new ModelChange(LABEL, 'created', MARKER.id));
    for (const [index, socket] of tabs.entries()) {
      const state = index < 2 ? PLAIN : RELOADING;
      await socket.until(() => ((socket.latest(state, 'products') as Row[] | undefined) ?? []).some((row) => row.id === MARKER.id), undefined, `tab ${index} to apply the marker`);
    }
    // Before: 200 refetches × 2 rows shown = 400 row reads (shared by the lists' tabs) and 200 × 3 = 600 reloads. Now
    // at most two refetches per tab apply (one in flight, one for the rest): 2 × 2 rows × 2 tabs, 2 × 3 reloads, and
    // the marker's row (one read per list).
    expect(READS.rows).toBeLessThanOrEqual(2 * 2 * 2 + 2);
    expect(READS.reloads).toBeLessThanOrEqual(2 * 3);
  });

  /** Any role that can connect may NOTIFY the channel: 200 `updated` changes of rows no tab shows. */
  it('an updated change of a row a list does not show costs no liveRow read', async () => {
    const tabs = [await tab(PLAIN), await tab(PLAIN), await tab(RELOADING)];
    const writer = new pg.Client({ connectionString: server.connectionString });
    await writer.connect();
    try {
      const change = (seq: number) => JSON.stringify({ modelLabel: LABEL, action: 'updated', pk: 1000 + seq, origin: { publisher: 'another-notifying-role', seq } });
      await writer.query('SELECT pg_notify($1, n::text) FROM unnest($2::text[]) AS n', [channel, Array.from({ length: 200 }, (_, i) => change(i + 1))]);
    } finally {
      await writer.end();
    }
    // A change after them: once every tab shows it, each has applied the 200 before it.
    await app.app.get(LiveBroadcaster).publish(new ModelChange(LABEL, 'created', MARKER.id));
    for (const [index, socket] of tabs.entries()) {
      const state = index < 2 ? PLAIN : RELOADING;
      await socket.until(() => ((socket.latest(state, 'products') as Row[] | undefined) ?? []).some((row) => row.id === MARKER.id), undefined, `tab ${index} to apply the marker`);
    }
    // Before: one read per change and list (400): the row was read, then found not shown. Now only the marker's (2).
    expect(READS.rows).toBe(2);
    expect(tabs.map((socket, index) => (socket.latest(index < 2 ? PLAIN : RELOADING, 'products') as Row[]).map((row) => row.id))).toEqual([
      [1, 2, MARKER.id],
      [1, 2, MARKER.id],
      [1, 2, MARKER.id],
    ]);
  });

  it('a liveReload that fails (its database down) is logged once per refetch and list, not once per tab', async () => {
    const tabs = await Promise.all(Array.from({ length: 6 }, () => tab(RELOADING)));
    const failures = () => logger.lines.filter((line) => line.level === 'warn' && line.message.includes('the catalogue database is down')).length;
    RELOADS_FAIL.now = true;
    await products.update({ inStock: false }, { inStock: true });
    await eventually('every tab to try its reload', () => READS.reloads, (count) => count === tabs.length);
    // The next change reaches each tab after the failed one: by then each has reported (or not) its failure.
    RELOADS_FAIL.now = false;
    await app.app.get(LiveBroadcaster).publish(new ModelChange(LABEL, 'created', MARKER.id));
    for (const [index, socket] of tabs.entries()) {
      await socket.until(() => ((socket.latest(RELOADING, 'products') as Row[] | undefined) ?? []).some((row) => row.id === MARKER.id), undefined, `tab ${index} to apply the marker`);
    }
    // Before: one warning per tab (6; 10,000 for a public catalogue's open pages, at each outage).
    expect(failures()).toBe(1);
  });
});
