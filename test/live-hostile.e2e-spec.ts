import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BridgeTier, EventHandler, LiveBroadcaster, LiveList, ModelChange, ReflexBridgeModule, State } from '@reflex-bridge/nest';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';

/** A full garbage collection, so that heap sizes measure what is still held. */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const LABEL = 'hostile.row';
const BOARD = 'reflex___state____state.hostile_board_state';
/** Rows of the public list: about 50 kB of JSON, which each change's delta carries whole. */
const ROWS = 300;

interface Row {
  id: number;
  text: string;
}

/** The gate `HostileBoardState.hold` waits on: a tab whose event waits there holds its state meanwhile. */
const GATE = { released: Promise.resolve(), release: () => {}, held: 0 };

/** A public list (`none` tier), and a handler that holds its tab's state for as long as the test likes. */
@State()
@BridgeTier('none')
class HostileBoardState {
  @LiveList(LABEL)
  rows: Row[] = [];

  @EventHandler()
  load(): void {
    this.rows = Array.from({ length: ROWS }, (_, id) => ({ id, text: 'x'.repeat(150) }));
  }

  /** A slow event (an external call, a long query) that a client can start and keep its state busy with. */
  @EventHandler()
  async hold(): Promise<void> {
    GATE.held += 1;
    await GATE.released;
  }
}

const REPLAYED_LABEL = 'hostile.replayed';
const REPLAYED = 'reflex___state____state.replayed_board_state';
/** The rows of `REPLAYED_LABEL` as a database holds them now: what `ReplayedBoardState.liveRow` reads. */
const DATABASE = new Map<number, Row>();
/** A row created once the tabs subscribed: a tab that shows it has applied its whole replay before it. */
const MARKER = 1_000;

/** A public list whose `liveRow` reads the "database" (a query, in an app) and counts its calls. */
@State()
@BridgeTier('none')
class ReplayedBoardState {
  static liveRowCalls = 0;

  @LiveList(REPLAYED_LABEL)
  rows: Row[] = [];

  liveRow(change: ModelChange): Row | undefined {
    if (change.pk !== MARKER) ReplayedBoardState.liveRowCalls += 1;
    return DATABASE.get(Number(change.pk));
  }
}

async function subscribed(app: RunningApp, sockets: RawSocket[]): Promise<RawSocket> {
  const live = app.app.get(LiveBroadcaster);
  const before = live.subscriberCount(LABEL);
  const tab = await RawSocket.hydrated(app.url, sockets);
  tab.send(`${BOARD}.load`);
  tab.send(`${BOARD}.live_subscribe`);
  await tab.until(() => live.subscriberCount(LABEL) > before, undefined, 'the live subscription');
  return tab;
}

describe('live lists under hostile subscribers', () => {
  let app: RunningApp;
  const sockets: RawSocket[] = [];
  const logger = new CapturingLogger();
  beforeAll(async () => {
    app = await startApp({ imports: [ReflexBridgeModule.forRoot({})], providers: [HostileBoardState, ReplayedBoardState] }, undefined, logger);
  });
  afterEach(async () => {
    GATE.release();
    for (const socket of sockets.splice(0)) socket.close();
    // The next test counts subscriptions from none.
    await eventually('every subscription to end', () => app.app.get(LiveBroadcaster).subscriberCount(LABEL), (count) => count === 0);
  });
  afterAll(async () => {
    await app.close();
  });

  it('logs one warning, not one per change, for sockets that subscribe without ever hydrating (they have no state to apply changes to)', async () => {
    const live = app.app.get(LiveBroadcaster);
    const before = live.subscriberCount(LABEL);
    const reader = await subscribed(app, sockets);
    const unhydrated: RawSocket[] = [];
    for (let i = 0; i < 5; i++) {
      const tab = new RawSocket(app.url);
      sockets.push(tab);
      unhydrated.push(tab);
      await tab.connected();
      tab.send(`${BOARD}.live_subscribe`);
    }
    await reader.until(() => live.subscriberCount(LABEL) === before + 6, undefined, 'the subscriptions');
    const failures = () => logger.lines.filter((line) => line.level === 'warn' && line.message.includes('No client state exists')).length;
    const changes = 100;
    for (let i = 0; i < changes; i++) await live.publish(new ModelChange(LABEL, 'updated', i % ROWS, { id: i % ROWS, text: `u${i}` }));
    await reader.until(() => (reader.latest(BOARD, 'rows') as Row[] | undefined)?.[(changes - 1) % ROWS]?.text === `u${changes - 1}`, undefined, 'the reader to get every change');
    // Every socket's changes were tried (the reader's came after theirs).
    await reader.until(() => failures() >= 5, undefined, 'a warning per socket');
    // It was 500: a line per change for each such socket.
    expect(failures()).toBe(5);
    // Once it hydrates, such a socket's list follows the changes.
    const late = unhydrated[0]!;
    await late.hydrate();
    await live.publish(new ModelChange(LABEL, 'created', 10_000, { id: 10_000, text: 'after hydrate' }));
    await late.until(() => ((late.latest(BOARD, 'rows') as Row[] | undefined) ?? []).some((row) => row.id === 10_000), undefined, 'the change after hydrating');
  });

  it('computes each row once for the tabs that replay the changes made since their page loads, not once per change and tab', async () => {
    const live = app.app.get(LiveBroadcaster);
    // 10 tabs whose page loads began before 1,000 changes of 50 rows (each created, then updated 19 times).
    const tabs: RawSocket[] = [];
    for (let i = 0; i < 10; i++) tabs.push(await RawSocket.hydrated(app.url, sockets));
    const changes = 1_000;
    for (let i = 0; i < changes; i++) {
      const id = i % 50;
      DATABASE.set(id, { id, text: `v${i}` });
      await live.publish(new ModelChange(REPLAYED_LABEL, i < 50 ? 'created' : 'updated', id));
    }
    ReplayedBoardState.liveRowCalls = 0;
    for (const tab of tabs) tab.send(`${REPLAYED}.live_subscribe`);
    await tabs[0]!.until(() => live.subscriberCount(REPLAYED_LABEL) === tabs.length, undefined, 'the subscriptions');
    DATABASE.set(MARKER, { id: MARKER, text: 'marker' });
    await live.publish(new ModelChange(REPLAYED_LABEL, 'created', MARKER));
    const rowsOf = (tab: RawSocket) => (tab.latest(REPLAYED, 'rows') as Row[] | undefined) ?? [];
    for (const tab of tabs) await tab.until(() => rowsOf(tab).at(-1)?.id === MARKER, undefined, 'the replay, then the marker');
    for (const tab of tabs) expect(rowsOf(tab)).toEqual([...Array.from({ length: 50 }, (_, id) => DATABASE.get(id)), DATABASE.get(MARKER)]);
    // It was 10,000: each replayed change was a copy of its own, so every tab read every change's row again.
    expect(ReplayedBoardState.liveRowCalls).toBe(50);
  });

  it("does not hold every change's lists and frames for a subscriber whose state a slow event of its own holds", async () => {
    const live = app.app.get(LiveBroadcaster);
    const reader = await subscribed(app, sockets);
    const stalled = await subscribed(app, sockets);
    GATE.released = new Promise<void>((resolve) => (GATE.release = resolve));
    const held = GATE.held;
    stalled.send(`${BOARD}.hold`);
    await stalled.until(() => GATE.held > held, undefined, 'hold to run');
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    // live.bufferSize (1,000) changes: all of them wait for the stalled tab, each with a 50 kB delta for the others.
    const changes = 1_000;
    for (let i = 0; i < changes; i++) await live.publish(new ModelChange(LABEL, 'updated', i % ROWS, { id: i % ROWS, text: `v${i}`.padEnd(150, 'y') }));
    const last = (changes - 1) % ROWS;
    await reader.until(() => ((reader.latest(BOARD, 'rows') as Row[] | undefined)?.[last]?.text ?? '').startsWith(`v${changes - 1}`), undefined, 'the reader to get every change');
    reader.updates.length = 0;
    collectGarbage();
    const kept = process.memoryUsage().heapUsed - before;
    // It held 58 MB (the encoded frame and the new list of every waiting change); a few MB now.
    expect(kept).toBeLessThan(15_000_000);
    // Once let go, the stalled tab catches up with the newest rows.
    GATE.release();
    await stalled.until(() => ((stalled.latest(BOARD, 'rows') as Row[] | undefined)?.[last]?.text ?? '').startsWith(`v${changes - 1}`), undefined, 'the stalled tab to catch up');
  });
});
