import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, expect, it } from '@jest/globals';
import { BridgeTier, EventHandler, LiveBroadcaster, LiveList, ModelChange, PostgresTransport, ReflexBridgeModule, State, TypeormLiveSubscriber } from '@reflex-bridge/nest';
import { Column, DataSource, Entity, PrimaryGeneratedColumn, type Repository } from 'typeorm';
import { LiveModelRegistry } from '../libs/reflex-bridge/src/live/live-model.registry.js';
import { startApp, type RunningApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { describeWithPostgres, PostgresTestServer } from './support/postgres-server.js';
import { RawSocket } from './support/raw-socket.js';

/**
 * A transaction that saves more rows than `live.bufferSize` to tabs showing that model's list, over real Postgres:
 * what it costs in messages, row reads, reloads and frames, with and without `refetchAbove`.
 */

const LABEL = 'bulk.item';
const CATALOGUE = 'reflex___state____state.bulk_catalogue_state';
/** The app's `live.bufferSize`: kept small, so a transaction past it stays cheap to run on a loaded machine. */
const BUFFER = 100;
const ROWS = 2 * BUFFER;
const TABS = 10;

@Entity('bulk_item')
class BulkItem {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column('text')
  name!: string;
}

interface Row {
  id: number;
  name: string;
}

let items: Repository<BulkItem>;
const READS = { rows: 0, reloads: 0 };
const all = async (): Promise<Row[]> => (await items.find({ order: { id: 'ASC' } })).map(({ id, name }) => ({ id, name }));

/** A public catalogue whose query runs again on a refetch, once for all its tabs (`reloadKey`). */
@State()
@BridgeTier('none')
class BulkCatalogueState {
  @LiveList(LABEL, { reloadKey: () => 'all' })
  items: Row[] = [];

  async liveRow(change: ModelChange): Promise<Row | undefined> {
    READS.rows += 1;
    const item = await items.findOneBy({ id: Number(change.pk) });
    return item ? { id: item.id, name: item.name } : undefined;
  }

  async liveReload(): Promise<Row[]> {
    READS.reloads += 1;
    return all();
  }

  @EventHandler()
  async load(): Promise<void> {
    this.items = await all();
  }
}

describeWithPostgres('a transaction of more rows than live.bufferSize, to tabs of a live list, over Postgres', () => {
  let server: PostgresTestServer;
  let app: RunningApp;
  let dataSource: DataSource;
  const registry = new LiveModelRegistry();
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    server = await PostgresTestServer.launch();
    dataSource = await new DataSource({ type: 'postgres', url: server.connectionString, entities: [BulkItem], synchronize: true }).initialize();
    items = dataSource.getRepository(BulkItem);
    app = await startApp({
      imports: [ReflexBridgeModule.forRoot({ live: { bufferSize: BUFFER, transport: new PostgresTransport({ connectionString: server.connectionString, channel: `bulk_live_${process.pid}` }) } })],
      providers: [BulkCatalogueState],
    });
    registry.register(BulkItem, LABEL);
  }, 120_000);

  beforeEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    // The previous test's tabs may still be applying changes queued behind the reload that completed their lists:
    // their reads are not this test's (once a tab's subscription ended it starts none).
    const live = app.app.get(LiveBroadcaster);
    await eventually('the previous tabs to unsubscribe', () => live.subscriberCount(LABEL), (count) => count === 0);
    await dataSource.query('TRUNCATE bulk_item RESTART IDENTITY');
    READS.rows = READS.reloads = 0;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await app?.close();
    await dataSource?.destroy();
    await server?.destroy();
  }, 60_000);

  /** `TABS` tabs that loaded the (empty) catalogue and subscribed to it. */
  async function tabs(): Promise<RawSocket[]> {
    const live = app.app.get(LiveBroadcaster);
    return Promise.all(
      Array.from({ length: TABS }, async () => {
        const socket = new RawSocket(app.url);
        sockets.push(socket);
        await socket.connected();
        await socket.hydrate();
        socket.send(`${CATALOGUE}.load`, {});
        const before = live.subscriberCount(LABEL);
        socket.send(`${CATALOGUE}.live_subscribe`, {});
        await socket.until(() => live.subscriberCount(LABEL) > before, undefined, 'the live subscription');
        return socket;
      }),
    );
  }

  /** The frames `socket` received that changed the list to rows (the live changes': the tab loaded an empty list). */
  const rowFrames = (socket: RawSocket) =>
    socket.updates.filter((update) => ((update.delta?.[CATALOGUE]?.['items_rx_state_'] as Row[] | undefined)?.length ?? 0) > 0).length;

  /** Saves `ROWS` rows in one transaction through `subscriber`; what it cost once every tab shows them all. */
  async function bulk(subscriber: TypeormLiveSubscriber, expected: number) {
    const open = await tabs();
    const live = app.app.get(LiveBroadcaster);
    let messages = 0;
    const counting = live.observe(LABEL).subscribe(() => (messages += 1));
    subscriber.attach(dataSource);
    try {
      await dataSource.transaction((manager) => manager.save(Array.from({ length: ROWS }, (_, index) => manager.create(BulkItem, { name: `item ${index + 1}` }))));
    } finally {
      subscriber.detach(dataSource);
    }
    for (const socket of open) {
      await socket.until(() => ((socket.latest(CATALOGUE, 'items') as Row[] | undefined) ?? []).length === ROWS, 90_000, `a tab to show the ${ROWS} rows`);
    }
    await eventually(`the ${expected} message(s)`, () => messages, (count) => count === expected);
    counting.unsubscribe();
    return { messages, rows: READS.rows, reloads: READS.reloads, frames: open.map(rowFrames) };
  }

  it('costs a message per row without refetchAbove, and up to a frame per row for each tab (measured)', async () => {
    const cost = await bulk(new TypeormLiveSubscriber(app.app.get(LiveBroadcaster), registry), ROWS);
    // Measured with 300 rows and 20 tabs: 300 messages, 187 to 300 liveRow reads, 3,720 to 6,000 frames (a tab that
    // keeps up gets a frame per row, each the whole list; one that falls behind past live.bufferSize reloads), 3-5 s
    // alone and over 20 s on a loaded machine. Since a burst of publishes goes in a few NOTIFY statements and a tab
    // applies the changes waiting for it together: 200 rows to 10 tabs, 3 frames per tab (200 before).
    expect(cost.messages).toBe(ROWS);
  }, 120_000);

  it('costs one message, one reload and one frame per tab with refetchAbove', async () => {
    // Measured with 300 rows and 20 tabs: 1 message, no liveRow read, 1 liveReload (shared through reloadKey), 20
    // frames, 0.15 s.
    const cost = await bulk(new TypeormLiveSubscriber(app.app.get(LiveBroadcaster), registry, { refetchAbove: BUFFER }), 1);
    expect(cost).toEqual({ messages: 1, rows: 0, reloads: 1, frames: Array.from({ length: TABS }, () => 1) });
  });
});
