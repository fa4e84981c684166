import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, expect, it } from '@jest/globals';
import { BridgeTier, EventHandler, LiveBroadcaster, LiveList, PostgresTransport, ReflexBridgeModule, State, TypeormLiveSubscriber, type ModelChange } from '@reflex-bridge/nest';
import { Column, DataSource, Entity, PrimaryGeneratedColumn, type Repository } from 'typeorm';
import { LiveModelRegistry } from '../libs/reflex-bridge/src/live/live-model.registry.js';
import { startApp, type RunningApp } from './support/app.js';
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
    return inStock();
  }
}

describeWithPostgres('live lists on a refetch (TypeORM bulk writes, NOTIFY bursts) over Postgres', () => {
  let server: PostgresTestServer;
  let app: RunningApp;
  let dataSource: DataSource;
  const channel = `rf_live_${process.pid}`;
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    server = await PostgresTestServer.launch();
    dataSource = await new DataSource({ type: 'postgres', url: server.connectionString, entities: [RfProduct], synchronize: true }).initialize();
    products = dataSource.getRepository(RfProduct);
    app = await startApp({
      imports: [ReflexBridgeModule.forRoot({ live: { transport: new PostgresTransport({ connectionString: server.connectionString, channel }) } })],
      providers: [StockState, ReloadingStockState],
    });
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
});
