import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BridgeTier, EventHandler, LiveBroadcaster, LiveList, ModelChange, ReflexBridgeModule, State } from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';
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
  beforeAll(async () => {
    app = await startApp({ imports: [ReflexBridgeModule.forRoot({})], providers: [HostileBoardState] });
  });
  afterEach(() => {
    GATE.release();
    for (const socket of sockets.splice(0)) socket.close();
  });
  afterAll(async () => {
    await app.close();
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
