import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { ConnectionLifecycle } from '../common/connection-lifecycle.js';
import type { EventClient } from '../common/event-client.js';
import type { SyntheticRequest } from '../bridge/request/synthetic-request.js';
import type { StateDefinition } from '../state/state-definition.js';
import { LiveBroadcaster } from './live-broadcaster.service.js';
import { LiveList } from './live-list.decorator.js';
import { MAX_BATCH } from './live-list.subscriber.js';
import { LiveTransport } from './live-transport.js';
import { LiveListSubscriptions, type ModifyState } from './live-list-subscriptions.service.js';
import { ModelChange } from './model-change.js';

const LABEL = 'test.note';

interface User {
  id: number;
  name: string;
}

class NotesState {
  @LiveList(LABEL)
  notes: Array<{ id: number }> = [];
}

const definition = { cls: NotesState, fullName: 'notes_state' } as unknown as StateDefinition;

/** A transport whose connection the test takes down and brings back (`set(true)`: down). */
class FlappingTransport extends LiveTransport {
  down = false;
  override async start(): Promise<void> {}
  override async publish(): Promise<void> {}
  override isConnected(): boolean {
    return !this.down;
  }
  override async close(): Promise<void> {}
  set(down: boolean): void {
    this.down = down;
    this.connectionChanged();
  }
}

/** Waits for `condition`, turn after turn of the event loop (the fan-out runs in microtasks and immediates). */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 10_000; turn++) {
    if (condition()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

describe('LiveListSubscriptions', () => {
  const broadcasters: LiveBroadcaster[] = [];
  afterEach(async () => {
    for (const live of broadcasters.splice(0)) await live.onModuleDestroy();
  });

  /** One connection with one state; `liveRow` records the user each row was judged for. */
  function setup() {
    const live = new LiveBroadcaster();
    broadcasters.push(live);
    const lifecycle = new ConnectionLifecycle();
    const subscriptions = new LiveListSubscriptions(live, lifecycle);
    const judged: unknown[] = [];
    const state: Record<string, unknown> = {
      notes: [],
      liveRow(change: ModelChange, user: unknown) {
        judged.push(user);
        return { id: Number(change.pk) };
      },
    };
    const modify: ModifyState = (change) => change(state);
    const client: EventClient = {
      token: 'token',
      sid: 'sid',
      headers: {},
      remoteAddress: '127.0.0.1',
      connectedAt: Date.now() - 1_000,
      emitUpdate: () => undefined,
      emitError: () => undefined,
    };
    const shown = () => (state['notes'] as Array<{ id: number }>).map((note) => note.id);
    return { live, subscriptions, state, modify, client, judged, shown };
  }

  it.each([
    ['throws', (): never => {
      throw new Error('database down');
    }],
    ['rejects', () => Promise.reject(new Error('database down'))],
  ])("calls a liveRow that %s once per scope and logs its failure once, not once per subscriber of a public list", async (_how, failing) => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const live = new LiveBroadcaster();
      broadcasters.push(live);
      const subscriptions = new LiveListSubscriptions(live, new ConnectionLifecycle());
      let calls = 0;
      let tried = 0;
      const subscribers = 200;
      const states: Array<Record<string, unknown>> = [];
      for (let i = 0; i < subscribers; i++) {
        const state: Record<string, unknown> = {
          notes: [],
          liveRow: () => {
            calls += 1;
            return failing();
          },
        };
        states.push(state);
        // Counts each batch of changes tried (the 3 changes, delivered together, are one), once it is done.
        const modify: ModifyState = (change) => {
          const done = change(state);
          if (done === undefined) {
            tried += 1;
            return undefined;
          }
          return done.then(() => void (tried += 1));
        };
        const client: EventClient = { token: `token-${i}`, sid: `sid-${i}`, headers: {}, remoteAddress: '127.0.0.1', connectedAt: Date.now(), emitUpdate: () => undefined, emitError: () => undefined };
        // A none-tier state: no user, so every subscriber is in one scope.
        subscriptions.start(client, definition, undefined, false, modify);
      }
      for (let pk = 1; pk <= 3; pk++) live.deliverLocal(new ModelChange(LABEL, 'created', pk));
      const failures = () => warn.mock.calls.filter(([message]) => String(message).includes('database down'));
      await until(() => tried === subscribers, 'every subscriber to try every change');
      await new Promise<void>((resolve) => setImmediate(resolve));
      // It was a line per subscriber, and a liveRow call per subscriber and change for a synchronous throw.
      expect(failures()).toHaveLength(1);
      expect(calls).toBe(3);
      expect(states.every((state) => (state['notes'] as unknown[]).length === 0)).toBe(true);
    } finally {
      warn.mockRestore();
    }
  });

  it('replays nothing when the same user subscribes again with a fresh copy of its record (as a session deserializes it for each event)', async () => {
    const { live, subscriptions, modify, client, judged, shown } = setup();
    const alice = (): User => ({ id: 1, name: 'alice' });
    subscriptions.start(client, definition, alice(), true, modify);
    for (let pk = 1; pk <= 20; pk++) live.deliverLocal(new ModelChange(LABEL, 'created', pk));
    await until(() => shown().length === 20, 'the 20 rows');
    expect(judged).toHaveLength(20);
    // A page (or a hostile client) sends live_subscribe again and again, as the same user.
    for (let again = 0; again < 50; again++) subscriptions.start(client, definition, alice(), true, modify);
    live.deliverLocal(new ModelChange(LABEL, 'created', 21));
    await until(() => shown().length === 21, 'the next row');
    // Only the new change was judged: 50 subscriptions again did not replay (and judge) the 20 changes 50 times.
    expect(judged).toHaveLength(21);
  });

  it('still replays for another user', async () => {
    const { live, subscriptions, modify, client, judged, shown } = setup();
    subscriptions.start(client, definition, { id: 1, name: 'alice' }, true, modify);
    for (let pk = 1; pk <= 3; pk++) live.deliverLocal(new ModelChange(LABEL, 'created', pk));
    await until(() => shown().length === 3, 'the 3 rows');
    subscriptions.start(client, definition, { id: 2, name: 'bob' }, true, modify);
    await until(() => judged.length === 6, 'the replay for bob');
    expect(judged.slice(3)).toEqual([{ id: 2, name: 'bob' }, { id: 2, name: 'bob' }, { id: 2, name: 'bob' }]);
  });

  it('re-reads every live list once the transport is back: the changes published while it was down never came', async () => {
    class RestartingTransport extends LiveTransport {
      down = false;
      override async start(): Promise<void> {}
      override async publish(): Promise<void> {}
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
    const live = new LiveBroadcaster(transport, { resyncSettleMs: 1 });
    broadcasters.push(live);
    await live.start();
    const subscriptions = new LiveListSubscriptions(live, new ConnectionLifecycle());
    const database = [{ id: 1 }];
    let reloads = 0;
    class ReloadingState {
      @LiveList(LABEL, { reloadKey: () => 'all' })
      notes: Array<{ id: number }> = [{ id: 1 }];
      liveReload(): Array<{ id: number }> {
        reloads += 1;
        return [...database];
      }
    }
    const states = Array.from({ length: 3 }, (_, tab) => {
      const state = new ReloadingState();
      const client: EventClient = { token: `token-${tab}`, sid: `sid-${tab}`, headers: {}, remoteAddress: '127.0.0.1', connectedAt: Date.now(), emitUpdate: () => undefined, emitError: () => undefined };
      subscriptions.start(client, { cls: ReloadingState, fullName: 'reloading' } as unknown as StateDefinition, undefined, false, (change) => change(state as unknown as Record<string, unknown>));
      return state;
    });
    transport.set(true);
    // Another worker creates a row meanwhile; its change is lost for this one.
    database.push({ id: 2 });
    transport.set(false);
    // Before: the lists kept showing one row until their pages loaded again.
    await until(() => states.every((state) => state.notes.length === 2), 'every list to re-read itself');
    expect(reloads).toBe(1);
  });

  it('re-reads each live list once after a transport that flaps, once it holds, not once per outage', async () => {
    // Only the clock and timers are faked: the fan-out runs in microtasks and immediates.
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'clearImmediate', 'queueMicrotask', 'nextTick', 'performance'] });
    try {
      const transport = new FlappingTransport();
      const live = new LiveBroadcaster(transport, { resyncSettleMs: 2_000 });
      broadcasters.push(live);
      await live.start();
      const subscriptions = new LiveListSubscriptions(live, new ConnectionLifecycle());
      const ROWS = 50;
      const TABS = 100;
      const database = new Set(Array.from({ length: ROWS }, (_, i) => i + 1));
      let reads = 0;
      const states = Array.from({ length: TABS }, (_, tab) => {
        const state: Record<string, unknown> = {
          notes: [...database].map((id) => ({ id })),
          liveRow(change: ModelChange) {
            reads += 1;
            return database.has(Number(change.pk)) ? { id: Number(change.pk) } : undefined;
          },
        };
        const client: EventClient = { token: `token-${tab}`, sid: `sid-${tab}`, headers: {}, remoteAddress: '127.0.0.1', connectedAt: Date.now(), emitUpdate: () => undefined, emitError: () => undefined };
        // Each tab its own user (an auth_only state): each list is its own scope, so each re-reads its own rows.
        subscriptions.start(client, definition, { id: tab }, true, (change) => change(state));
        return state;
      });
      const settle = async () => {
        for (let turn = 0; turn < 50; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
      };
      for (let flap = 0; flap < 10; flap++) {
        transport.set(true);
        // A row deleted on another worker during the outage: its change is lost for this one.
        if (flap === 9) database.delete(ROWS);
        transport.set(false);
        await settle();
        // Up for a second, then down again.
        jest.advanceTimersByTime(1_000);
        await settle();
      }
      // Before: 50,000 row reads by now (each of the 100 lists re-read its 50 rows after each of the 10 outages).
      expect(reads).toBe(0);
      // It holds: the re-read owed since the first outage runs once, and finds the row deleted in the last one.
      jest.advanceTimersByTime(1_000);
      await until(() => states.every((state) => (state['notes'] as unknown[]).length === ROWS - 1), 'every list to re-read itself once');
      expect(reads).toBe(TABS * ROWS);
    } finally {
      jest.useRealTimers();
    }
  });

  it('re-reads the live lists while a transport keeps flapping, at most every 10 settle times', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'clearImmediate', 'queueMicrotask', 'nextTick', 'performance'] });
    try {
      const transport = new FlappingTransport();
      const live = new LiveBroadcaster(transport, { resyncSettleMs: 1_000 });
      broadcasters.push(live);
      await live.start();
      const subscriptions = new LiveListSubscriptions(live, new ConnectionLifecycle());
      let reads = 0;
      const state: Record<string, unknown> = {
        notes: [{ id: 1 }],
        liveRow: (change: ModelChange) => ((reads += 1), { id: Number(change.pk) }),
      };
      const client: EventClient = { token: 'token', sid: 'sid', headers: {}, remoteAddress: '127.0.0.1', connectedAt: Date.now(), emitUpdate: () => undefined, emitError: () => undefined };
      subscriptions.start(client, definition, undefined, false, (change) => change(state));
      // Up for half a second at a time, for 30 seconds: never for the settle time.
      for (let flap = 0; flap < 30; flap++) {
        transport.set(true);
        jest.advanceTimersByTime(500);
        transport.set(false);
        for (let turn = 0; turn < 20; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
        jest.advanceTimersByTime(500);
      }
      // One re-read every 10 s (10 settle times): 2 over 30 s (at 10.5 s and 21.5 s), neither one per outage nor none.
      expect(reads).toBe(2);
      // And the last outage's own, once the transport holds.
      jest.advanceTimersByTime(500);
      await until(() => reads === 3, 'the re-read after the last outage');
    } finally {
      jest.useRealTimers();
    }
  });

  it('sends each tab one frame per batch of a burst of created rows, not one carrying the whole list per row', async () => {
    const live = new LiveBroadcaster();
    broadcasters.push(live);
    const subscriptions = new LiveListSubscriptions(live, new ConnectionLifecycle());
    const SHOWN = 50;
    const CREATED = 500;
    const TABS = 20;
    let frames = 0;
    let bytes = 0;
    const states = Array.from({ length: TABS }, (_, tab) => {
      const state: Record<string, unknown> = { notes: Array.from({ length: SHOWN }, (_, i) => ({ id: i + 1 })) };
      // The pipeline's step: one state change, then its delta (the whole list var) as one frame to the tab.
      const modify: ModifyState = (change) => {
        const before = state['notes'];
        const done = change(state);
        const sent = () => {
          if (state['notes'] === before) return;
          frames += 1;
          bytes += JSON.stringify(state['notes']).length;
        };
        return done === undefined ? sent() : done.then(sent);
      };
      const client: EventClient = { token: `token-${tab}`, sid: `sid-${tab}`, headers: {}, remoteAddress: '127.0.0.1', connectedAt: Date.now(), emitUpdate: () => undefined, emitError: () => undefined };
      // A public list (none tier): rows from the changes' data.
      subscriptions.start(client, definition, undefined, false, modify);
      return state;
    });
    // A 500-row insert: its changes arrive together.
    for (let pk = SHOWN + 1; pk <= SHOWN + CREATED; pk++) live.deliverLocal(new ModelChange(LABEL, 'created', pk, { id: pk }));
    const reloaded = Array.from({ length: SHOWN + CREATED }, (_, i) => ({ id: i + 1 }));
    await until(() => states.every((state) => (state['notes'] as unknown[]).length === SHOWN + CREATED), 'every tab to show every row');
    // Each tab ends equal to a reload.
    for (const state of states) expect(state['notes']).toEqual(reloaded);
    // Before: 10,000 frames (one per row and tab, each the whole list so far), 32 MB of JSON; now 16 per tab, 1.1 MB
    // (100 tabs: 50,000 frames and 160 MB before, 1,600 frames and 5.5 MB now).
    expect(frames).toBe(TABS * Math.ceil(CREATED / MAX_BATCH));
    expect(bytes).toBeLessThan(2_000_000);
  }, 60_000);

  describe('a refetch of a list with liveReload, open in many tabs', () => {
    /** A catalogue filtered by the client's category, reloaded by its query (counted) on a refetch. */
    function catalogue(shared: boolean) {
      const reloads: Array<{ category: string; user: unknown }> = [];
      class CatalogueState {
        @LiveList(LABEL, shared ? { reloadKey: (state) => (state as CatalogueState).category } : {})
        notes: Array<{ id: number; category: string }> = [];
        category = 'tea';
        async liveReload(_property: string, user: unknown): Promise<Array<{ id: number; category: string }>> {
          reloads.push({ category: this.category, user });
          await new Promise<void>((resolve) => setImmediate(resolve));
          return [{ id: 1, category: this.category }];
        }
      }
      return { reloads, CatalogueState, definition: { cls: CatalogueState, fullName: `catalogue_${String(shared)}` } as unknown as StateDefinition };
    }

    async function openTabs(shared: boolean, tabs: number, categoryOf: (tab: number) => string, userOf: (tab: number) => unknown) {
      const live = new LiveBroadcaster();
      broadcasters.push(live);
      const subscriptions = new LiveListSubscriptions(live, new ConnectionLifecycle());
      const { reloads, CatalogueState, definition: catalogueDefinition } = catalogue(shared);
      const states = Array.from({ length: tabs }, (_, tab) => {
        const state = new CatalogueState();
        state.category = categoryOf(tab);
        const client: EventClient = { token: `token-${tab}`, sid: `sid-${tab}`, headers: {}, remoteAddress: '127.0.0.1', connectedAt: Date.now(), emitUpdate: () => undefined, emitError: () => undefined };
        const user = userOf(tab);
        subscriptions.start(client, catalogueDefinition, user, user !== undefined, (change) => change(state as unknown as Record<string, unknown>));
        return state;
      });
      live.deliverLocal(ModelChange.refetch(LABEL));
      await until(() => states.every((state) => state.notes.length === 1), 'every tab to reload');
      return { reloads, states };
    }

    it('runs liveReload once per tab without a reloadKey (500 tabs: 500 queries)', async () => {
      const { reloads } = await openTabs(false, 500, () => 'tea', () => undefined);
      expect(reloads).toHaveLength(500);
    });

    it('runs it once per reload key with a reloadKey: 500 anonymous tabs of two categories make 2 queries, each tab its category', async () => {
      const { reloads, states } = await openTabs(true, 500, (tab) => (tab % 2 === 0 ? 'tea' : 'coffee'), () => undefined);
      // It was 500: one query per open tab and refetch.
      expect(reloads.map(({ category }) => category).sort()).toEqual(['coffee', 'tea']);
      for (const [tab, state] of states.entries()) expect(state.notes).toEqual([{ id: 1, category: tab % 2 === 0 ? 'tea' : 'coffee' }]);
    });

    it('never shares a reload between users', async () => {
      const { reloads } = await openTabs(true, 6, () => 'tea', (tab) => ({ id: tab % 3 }));
      // Three users with two tabs each: each user object is its own scope (a session gives each tab its own copy).
      expect(reloads).toHaveLength(6);
      expect(new Set(reloads.map(({ user }) => user)).size).toBe(6);
    });
  });

  describe('a transaction of more rows than live.bufferSize, to 100 lists of a public catalogue', () => {
    const SHOWN = 50;
    const CREATED = 5_000;

    /** 100 tabs showing the same 50 rows; `reloadKey` given or not; counts re-reads of the shown rows and reloads. */
    async function burst(reloads: boolean) {
      const counts = { shownReads: 0, createdReads: 0, reloads: 0 };
      class CatalogueState {
        @LiveList(LABEL, { reloadKey: () => 'all' })
        notes: Array<{ id: number }> = Array.from({ length: SHOWN }, (_, index) => ({ id: index + 1 }));
        liveRow(change: ModelChange): { id: number } {
          if (Number(change.pk) <= SHOWN) counts.shownReads += 1;
          else counts.createdReads += 1;
          return { id: Number(change.pk) };
        }
      }
      class ReloadingState extends CatalogueState {
        liveReload(): Array<{ id: number }> {
          counts.reloads += 1;
          return Array.from({ length: SHOWN + CREATED }, (_, index) => ({ id: index + 1 }));
        }
      }
      const cls = reloads ? ReloadingState : CatalogueState;
      const live = new LiveBroadcaster();
      broadcasters.push(live);
      const subscriptions = new LiveListSubscriptions(live, new ConnectionLifecycle());
      const states = Array.from({ length: 100 }, (_, tab) => {
        const state = new cls();
        const client: EventClient = { token: `token-${tab}`, sid: `sid-${tab}`, headers: {}, remoteAddress: '127.0.0.1', connectedAt: Date.now(), emitUpdate: () => undefined, emitError: () => undefined };
        subscriptions.start(client, { cls, fullName: 'catalogue' } as unknown as StateDefinition, undefined, false, (change) => change(state as unknown as Record<string, unknown>));
        return state;
      });
      // The commit of one transaction: its changes arrive back to back, faster than any list applies them.
      for (let pk = SHOWN + 1; pk <= SHOWN + CREATED; pk++) live.deliverLocal(new ModelChange(LABEL, 'created', pk));
      await until(() => states.every((state) => state.notes.at(-1)?.id === SHOWN + CREATED), 'every list to catch up');
      return { counts, states };
    }

    it('re-reads the shown rows once for all the lists that fell behind together, not once per list', async () => {
      const { counts, states } = await burst(false);
      // It was 5,000 (50 rows for each of the 100 lists: the refetch queued for each list's dropped changes was its own).
      expect(counts.shownReads).toBe(SHOWN);
      // The changes not dropped are still applied, each row computed once for all lists.
      expect(counts.createdReads).toBeLessThanOrEqual(1_000);
      expect(states[99]!.notes).toEqual(states[0]!.notes);
    }, 30_000);

    it('runs one shared liveReload for them with a reloadKey, not one per list', async () => {
      const { counts, states } = await burst(true);
      // It was 100, reloadKey or not: a refetch queued for a list alone shared nothing.
      expect(counts.reloads).toBe(1);
      for (const state of states) expect(state.notes).toHaveLength(SHOWN + CREATED);
    }, 30_000);
  });

  describe('replaying the changes since the page load', () => {
    /** Published after the tabs subscribed: a tab that shows it has applied its whole replay. */
    const MARKER = 1_000_000;
    /** A state whose `liveRow` (on its prototype, as a state class declares it) counts its calls (the marker's aside). */
    class CountedState extends NotesState {
      static calls = 0;
      liveRow(change: ModelChange): { id: number; v: string } {
        if (change.pk !== MARKER) CountedState.calls += 1;
        return { id: Number(change.pk), v: 'now' };
      }
    }
    const counted = { cls: CountedState, fullName: 'counted_state' } as unknown as StateDefinition;

    /**
     * `changes` published, then `tabs` connections whose page loads began before them subscribe, each as
     * `userOf(tab)` (`undefined`: a `none`-tier state, no user). Resolves once every tab applied its replay and
     * shows `rows` rows.
     */
    async function subscribeLate(tabs: number, changes: ModelChange[], userOf: (tab: number) => unknown, rows: number) {
      // Room for the markers too: the default bound (1,000 per label) would drop the oldest change for them.
      const live = new LiveBroadcaster(undefined, { bufferSize: 1_010 });
      broadcasters.push(live);
      const subscriptions = new LiveListSubscriptions(live, new ConnectionLifecycle());
      CountedState.calls = 0;
      const connectedAt = Date.now() - 1_000;
      for (const change of changes) live.deliverLocal(change);
      const states: CountedState[] = [];
      const subscribe = async (from: number, to: number) => {
        for (let tab = from; tab < to; tab++) {
          const state = new CountedState();
          states.push(state);
          const client: EventClient = { token: `token-${tab}`, sid: `sid-${tab}`, headers: {}, remoteAddress: '127.0.0.1', connectedAt, emitUpdate: () => undefined, emitError: () => undefined };
          const user = userOf(tab);
          subscriptions.start(client, counted, user, user !== undefined, (change) => change(state as unknown as Record<string, unknown>));
        }
        live.deliverLocal(new ModelChange(LABEL, 'created', MARKER));
        await until(() => states.every((state) => state.notes.at(-1)?.id === MARKER), 'every tab to apply its replay');
        for (const state of states) {
          expect(state.notes).toHaveLength(rows + 1);
          state.notes = state.notes.slice(0, -1);
        }
      };
      await subscribe(0, tabs);
      return { states, subscribe };
    }

    const created = (count: number) => Array.from({ length: count }, (_, index) => new ModelChange(LABEL, 'created', index + 1));
    /** 1,000 changes of 50 rows: each created, then updated 19 times. */
    const churn = () => [...created(50), ...Array.from({ length: 950 }, (_, index) => new ModelChange(LABEL, 'updated', (index % 50) + 1))];

    it('computes a row once per recorded change for the tabs of a public list that replay it, not once per tab', async () => {
      const { states, subscribe } = await subscribeLate(10, created(1_000), () => undefined, 1_000);
      // It was 10,000: every tab's replay computed every row again.
      expect(CountedState.calls).toBe(1_000);
      expect(states[0]!.notes.map((note) => note.id)).toEqual(created(1_000).map((change) => change.pk));
      // More pages that load and subscribe (a client that does it again and again, on many sockets) compute nothing.
      await subscribe(10, 15);
      expect(CountedState.calls).toBe(1_000);
      // Each of the 15 tabs still applies 1,000 appends to its own list: more than the default 5 s on a busy machine.
    }, 30_000);

    it('computes a row once per primary key, not once per change, for tabs with users of their own', async () => {
      const { states } = await subscribeLate(10, churn(), (tab) => ({ id: tab }), 50);
      // It was 10,000 (a call per change and tab); each user's rows are still computed for that user.
      expect(CountedState.calls).toBe(10 * 50);
      expect(states[9]!.notes.map((note) => note.id)).toEqual(Array.from({ length: 50 }, (_, index) => index + 1));
    });

    it('computes 50 rows for 10 tabs of a public list after 1,000 changes of 50 rows', async () => {
      await subscribeLate(10, churn(), () => undefined, 50);
      expect(CountedState.calls).toBe(50);
    });
  });

  it('applies nothing to a guarded subscription after a session end until its guards let the new user through', async () => {
    const { live, subscriptions, modify, client, judged, shown } = setup();
    const verdicts: Array<{ request: SyntheticRequest; let: () => void; refuse: () => void }> = [];
    const guards = (request: SyntheticRequest) =>
      new Promise<void>((resolve, reject) => verdicts.push({ request, let: resolve, refuse: () => reject(new Error('forbidden')) }));
    subscriptions.start(client, definition, { id: 1, name: 'alice' }, true, modify, subscriptions.mark(), guards);
    live.deliverLocal(new ModelChange(LABEL, 'created', 1));
    await until(() => shown().length === 1, 'the first row');
    // The session ended: nobody, until the re-authentication answers.
    subscriptions.changeUser(client, undefined);
    live.deliverLocal(new ModelChange(LABEL, 'created', 2));
    // The re-authentication found nobody, and the guards refuse nobody.
    const nobody = { user: undefined } as unknown as SyntheticRequest;
    subscriptions.changeUser(client, undefined, nobody);
    await until(() => verdicts.length === 1, 'the guards to run again');
    expect(verdicts.map((verdict) => verdict.request)).toEqual([nobody]);
    verdicts[0]!.refuse();
    live.deliverLocal(new ModelChange(LABEL, 'created', 3));
    // The fan-out runs in a microtask after a delivery: by the next turn, 2 and 3 were given to the subscription.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(shown()).toEqual([1]);
    expect(judged).toHaveLength(1);
    // The page subscribes again as bob and its guards let him through: the changes since the page load are his.
    subscriptions.start(client, definition, { id: 2, name: 'bob' }, true, modify, subscriptions.mark(), guards);
    await until(() => shown().length === 3, 'the replay for bob');
    expect(shown()).toEqual([1, 2, 3]);
  });

  it('lets a guarded subscription go once its guards let the re-authenticated user through', async () => {
    const { live, subscriptions, modify, client, shown } = setup();
    const verdicts: Array<() => void> = [];
    const guards = () => new Promise<void>((resolve) => verdicts.push(resolve));
    subscriptions.start(client, definition, { id: 1, name: 'alice' }, true, modify, subscriptions.mark(), guards);
    subscriptions.changeUser(client, undefined);
    live.deliverLocal(new ModelChange(LABEL, 'created', 1));
    subscriptions.changeUser(client, { id: 3, name: 'carol' }, {} as SyntheticRequest);
    await until(() => verdicts.length === 1, 'the guards to run again');
    verdicts[0]!();
    // The change skipped while held is applied once the guards let carol through.
    await until(() => shown().length === 1, 'the row for carol');
  });
  it('holds a subscription whose live_subscribe its guards refused, unless the refused request predates a session end', async () => {
    const { live, subscriptions, modify, client, shown } = setup();
    const guards = () => Promise.resolve();
    subscriptions.start(client, definition, { id: 1, name: 'alice' }, true, modify, subscriptions.mark(), guards);
    // Read before a session end: it judged a user the connection no longer has, and says nothing of the new one.
    const stale = subscriptions.mark();
    subscriptions.changeUser(client, { id: 2, name: 'bob' }, {} as SyntheticRequest);
    subscriptions.refuse(client, definition, stale);
    await until(() => {
      live.deliverLocal(new ModelChange(LABEL, 'created', shown().length + 1));
      return shown().length > 0;
    }, 'a row once the guards let bob through');
    // Refused now: nothing more is applied.
    subscriptions.refuse(client, definition, subscriptions.mark());
    const before = shown().length;
    live.deliverLocal(new ModelChange(LABEL, 'created', 1_000));
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(shown()).toHaveLength(before);
  });
});
