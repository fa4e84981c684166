import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import type { EventClient } from '../common/event-client.js';
import { isPromise } from '../common/maybe-promise.js';
import type { BridgeErrorPayload } from '../protocol/bridge-error.js';
import type { StateUpdate } from '../protocol/state-update.js';
import { varKey } from '../protocol/state-naming.js';
import { ReflexBridgeModule } from '../reflex-bridge.module.js';
import { EventHandler } from '../state/event-handler.decorator.js';
import { EventRequest, EventUploads, Payload } from '../state/event-param.decorator.js';
import { StateRegistry } from '../state/state-registry.service.js';
import { BridgeTier } from '../bridge/tiers/bridge-tier.decorator.js';
import { contextOf } from '../bridge/request/event-context.js';
import type { SyntheticRequest } from '../bridge/request/synthetic-request.js';
import { isCollected } from '../common/collectable.spec.support.js';
import { State } from '../state/state.decorator.js';
import { StateStore, type SaveOptions, type StateLease, type StoredState } from '../state/store/state-store.js';
import { StateStoreError } from '../state/store/state-store.error.js';
import { InMemoryStateStore } from '../state/store/in-memory-state.store.js';
import { EventPipeline } from './event-pipeline.service.js';
import { REFUSAL_NOTICE_EVERY_MS } from './refusal-notices.js';

const COUNTER = 'reflex___state____state.counter_state';

@State()
class CounterState {
  count = 0;
  log: string[] = [];

  @EventHandler()
  bump(@Payload('by') by: number): void {
    this.count += by;
  }

  @EventHandler()
  async note(@Payload('text') text: string, @Payload('waitMs') waitMs: number): Promise<void> {
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    this.log = [...this.log, text];
  }

  /** Changes the state, then fails after a wait: none of its changes may land. */
  @EventHandler()
  async failLater(): Promise<void> {
    this.count = 999;
    await new Promise((resolve) => setImmediate(resolve));
    throw new Error('failed after a wait');
  }

  /** Throws what `String()` cannot convert: an object without a prototype. */
  @EventHandler()
  throwBare(): void {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- throwing a non-Error is the case under test
    throw Object.assign(Object.create(null) as object, { reason: 'bare' });
  }

  /** Throws an error quoting what the client sent, as validation errors often do. */
  @EventHandler()
  throwQuoting(@Payload('text') text: string): void {
    throw new Error(`Not a valid name: ${text}`);
  }
}

const NOTE = 'reflex___state____state.note_state';

/** What NoteState's handler saw, kept after the event as app code holding on to a request might. */
const keptAfterEvent: { request?: SyntheticRequest; view?: WeakRef<object> } = {};

@State()
@BridgeTier('auth_only')
class NoteState {
  text = '';

  @EventHandler()
  write(@Payload('text') text: string, @EventRequest() request: SyntheticRequest): void {
    this.text = text;
    keptAfterEvent.request = request;
    keptAfterEvent.view = new WeakRef(this);
  }
}

/** An upload handler that keeps what it saw, as NoteState does for events. */
@State()
@BridgeTier('auth_only')
class AttachmentState {
  files = 0;

  @EventHandler()
  attach(@EventUploads() files: unknown[], @EventRequest() request: SyntheticRequest): void {
    this.files += files.length;
    keptAfterEvent.request = request;
    keptAfterEvent.view = new WeakRef(this);
  }
}

/**
 * The in-memory store with saves that answer later, in a turn of the event loop, as a Redis store's do; `failSaves`
 * makes them fail as when Redis is unreachable (nothing written). Its lease is taken asynchronously too.
 */
class LaterSavingStore extends StateStore {
  readonly inner = new InMemoryStateStore();
  failSaves = false;
  /** Releases fail as when Redis is unreachable (the in-memory lock is still freed, so the next event runs). */
  failReleases = false;
  /**
   * Releases do not settle until the test lets them (`thaw`), as when Redis froze (a stopped process, a network black
   * hole) after the save was sent.
   */
  hangReleases = false;
  private readonly hung: Array<() => void> = [];

  thaw(): void {
    for (const resolve of this.hung.splice(0)) resolve();
  }

  async acquire(token: string): Promise<StateLease> {
    const lease = await this.inner.acquire(token);
    return {
      token,
      state: lease.state,
      save: (state: StoredState, options?: SaveOptions) =>
        new Promise<void>((resolve, reject) =>
          setImmediate(() => {
            if (this.failSaves) reject(new StateStoreError('unavailable', 'the store is down'));
            else resolve(lease.save(state, options));
          }),
        ),
      release: () => {
        const released = lease.release();
        if (this.failReleases) return Promise.reject(new StateStoreError('unavailable', 'the store is down'));
        if (this.hangReleases) return new Promise<void>((resolve) => this.hung.push(resolve));
        return released;
      },
    };
  }

  read(token: string): Promise<StoredState | null> {
    return this.inner.read(token);
  }

  delete(token: string): Promise<void> {
    return this.inner.delete(token);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A client that records what it is sent. */
function recordingClient(token = 'token-1'): EventClient & { updates: StateUpdate[]; errors: BridgeErrorPayload[] } {
  const updates: StateUpdate[] = [];
  const errors: BridgeErrorPayload[] = [];
  return {
    token,
    sid: `sid-${token}`,
    headers: {},
    remoteAddress: '127.0.0.1',
    emitUpdate: (update) => void updates.push(update),
    emitError: (error) => void errors.push(error),
    updates,
    errors,
  };
}

const frame = (name: string, payload: Record<string, unknown> = {}) => ({ token: 'token-1', name, router_data: { pathname: '/', query: {} }, payload });

/** A client whose page has loaded (`hydrate` answered), as every browser tab is before its first event. */
async function hydratedClient(events: EventPipeline): Promise<ReturnType<typeof recordingClient>> {
  const client = recordingClient();
  void events.handle(client, frame('reflex___state____state.hydrate'));
  await until(() => client.updates.length === 1);
  client.updates.length = 0;
  return client;
}

async function until(predicate: () => boolean, deadlineMs = 10_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('EventPipeline', () => {
  let moduleRef: TestingModule | undefined;

  async function pipeline(states: Array<new () => object> = [CounterState], store: StateStore = new InMemoryStateStore(), rateLimit?: false): Promise<EventPipeline> {
    moduleRef = await Test.createTestingModule({
      imports: [ReflexBridgeModule.forRoot({ bridge: { mode: 'none' }, stateStore: store, ...(rateLimit === false ? { rateLimit } : {}) })],
      providers: states,
    }).compile();
    await moduleRef.init();
    expect(moduleRef.get(StateStore, { strict: false })).toBe(store);
    return moduleRef.get(EventPipeline, { strict: false });
  }

  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
  });

  it('answers an unknown handler with a structured error and its presentation (a toast carrying the same error), and nothing else', async () => {
    const events = await pipeline();
    const client = recordingClient();
    void events.handle(client, frame(`${COUNTER}.nope`));
    await until(() => client.errors.length === 1);
    expect(client.errors[0]).toMatchObject({ code: 'unknown_handler', event: `${COUNTER}.nope` });
    expect(client.updates).toEqual([
      { events: [{ name: '_call_function', payload: { function: expect.stringContaining('refs["__toast"]'), callback: null, bridge_error: client.errors[0] } }] },
    ]);
  });

  it('builds the router data from the server’s own token, socket id and IP, whatever the client claims, and keeps its page', async () => {
    const events = await pipeline();
    const client = recordingClient();
    const claimed = { pathname: '/items/7', asPath: '/items/7?tab=a-b', query: { 'my-tab': 'a-b' }, token: 'forged', sid: 'forged', ip: '6.6.6.6', headers: { cookie: 'forged' } };
    void events.handle(client, { name: 'reflex___state____state.hydrate', payload: {}, router_data: claimed });
    await until(() => client.updates.length === 1);
    const router = client.updates[0].delta!['reflex___state____state'][varKey('router')] as Record<string, Record<string, unknown>>;
    expect(router.session).toEqual({ client_token: 'token-1', client_ip: '127.0.0.1', session_id: 'sid-token-1' });
    expect(router.page).toMatchObject({ path: '/items/7', raw_path: '/items/7?tab=a-b', params: { my_tab: 'a-b' } });
    expect(router.headers).not.toMatchObject({ cookie: 'forged' });
  });

  it('once stopping, answers a client event server_stopping without running it, within the connection budget (a flood gets rate_limited, not one answer per frame)', async () => {
    const events = await pipeline();
    const client = await hydratedClient(events);
    await events.stop();
    void events.handle(client, frame(`${COUNTER}.bump`, { by: 2 }));
    // Its payload goes back with it: the event is safe to send again, and @reflex-bridge/client does once reconnected.
    expect(client.errors).toEqual([{ code: 'server_stopping', message: expect.stringMatching(/shutting down/), event: `${COUNTER}.bump`, payload: { by: 2 } }]);
    expect(client.updates.filter((update) => update.delta !== undefined)).toEqual([]);
    // The default budget is 500 events in 10 s (the hydrate above took one).
    for (let i = 0; i < 1_000; i++) void events.handle(client, frame(`${COUNTER}.bump`, { by: 1 }));
    expect(client.errors.filter((error) => error.code === 'server_stopping')).toHaveLength(499);
    expect(client.errors.filter((error) => error.code === 'rate_limited')).toHaveLength(502);
  });

  it("once stopping, runs the events a client sends behind its running one, within shutdownGraceMs; once the grace ran out, refuses them server_stopping", async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    @State()
    class HeldState {
      count = 0;
      @EventHandler()
      async hold(): Promise<void> {
        await held;
      }
      @EventHandler()
      bump(): void {
        this.count += 1;
      }
    }
    const HELD = 'reflex___state____state.held_state';
    moduleRef = await Test.createTestingModule({
      imports: [ReflexBridgeModule.forRoot({ bridge: { mode: 'none' }, shutdownGraceMs: 50 })],
      providers: [HeldState],
    }).compile();
    await moduleRef.init();
    const events = moduleRef.get(EventPipeline, { strict: false });
    const client = await hydratedClient(events);
    void events.handle(client, frame(`${HELD}.hold`));
    void events.handle(client, frame(`${HELD}.bump`));
    const stopped = events.stop();
    // Sent after the shutdown began, on the socket the running event keeps open: queued behind it too.
    void events.handle(client, frame(`${HELD}.bump`));
    await stopped;
    // The grace ran out with `hold` still running: what comes now, or whose turn comes now, is not run.
    void events.handle(client, frame(`${HELD}.bump`));
    release();
    await until(() => client.errors.length === 3);
    expect(client.errors.map((error) => error.code)).toEqual(['server_stopping', 'server_stopping', 'server_stopping']);
    expect(client.errors.map((error) => error.payload)).toEqual([{}, {}, {}]);
    expect(client.updates.flatMap((update) => (update.delta ? [update.delta] : []))).toEqual([]);

    // Within the grace, the same events run: answered with their deltas, nothing refused.
    await moduleRef.close();
    let releaseAgain: () => void = () => undefined;
    const heldAgain = new Promise<void>((resolve) => (releaseAgain = resolve));
    @State()
    class HeldAgainState {
      count = 0;
      @EventHandler()
      async hold(): Promise<void> {
        await heldAgain;
      }
      @EventHandler()
      bump(): void {
        this.count += 1;
      }
    }
    const AGAIN = 'reflex___state____state.held_again_state';
    moduleRef = await Test.createTestingModule({
      imports: [ReflexBridgeModule.forRoot({ bridge: { mode: 'none' }, shutdownGraceMs: 60_000 })],
      providers: [HeldAgainState],
    }).compile();
    await moduleRef.init();
    const again = moduleRef.get(EventPipeline, { strict: false });
    const tab = await hydratedClient(again);
    void again.handle(tab, frame(`${AGAIN}.hold`));
    void again.handle(tab, frame(`${AGAIN}.bump`));
    const stopping = again.stop();
    void again.handle(tab, frame(`${AGAIN}.bump`));
    releaseAgain();
    await stopping;
    expect(tab.errors).toEqual([]);
    expect(tab.updates.flatMap((update) => (update.delta?.[AGAIN] ? [update.delta[AGAIN][varKey('count')]] : []))).toEqual([1, 2]);
  });

  it('runs a none-tier event with a synchronous handler synchronously: no promise, the delta already sent', async () => {
    const events = await pipeline();
    const client = await hydratedClient(events);
    const result = events.handle(client, frame(`${COUNTER}.bump`, { by: 2 }));
    expect(isPromise(result)).toBe(false);
    expect(client.updates).toEqual([{ delta: { [COUNTER]: { [varKey('count')]: 2 } } }]);
  });

  it('sends only what changed, computed on the stored state', async () => {
    const events = await pipeline();
    const client = await hydratedClient(events);
    void events.handle(client, frame(`${COUNTER}.bump`, { by: 2 }));
    void events.handle(client, frame(`${COUNTER}.bump`, { by: 3 }));
    expect(client.updates.at(-1)).toEqual({ delta: { [COUNTER]: { [varKey('count')]: 5 } } });
    expect(Object.keys(client.updates.at(-1)!.delta![COUNTER])).toEqual([varKey('count')]);
  });

  it('runs one client\'s events one at a time, in the order they arrived', async () => {
    const events = await pipeline();
    const client = await hydratedClient(events);
    void events.handle(client, frame(`${COUNTER}.note`, { text: 'slow first', waitMs: 30 }));
    void events.handle(client, frame(`${COUNTER}.note`, { text: 'fast second', waitMs: 0 }));
    await until(() => client.updates.length === 2);
    const logs = client.updates.map((update) => update.delta![COUNTER][varKey('log')]);
    expect(logs).toEqual([['slow first'], ['slow first', 'fast second']]);
  });

  it('holds a queued event, rather than dropping it, while its client has not read the answers before it, and runs it once it has', async () => {
    const events = await pipeline();
    const client = await hydratedClient(events);
    let backlogged = false;
    let drained: (() => void) | undefined;
    Object.assign(client, { outputBacklogged: () => backlogged, whenOutputDrained: (resume: () => void) => void (drained = resume) });
    void events.handle(client, frame(`${COUNTER}.note`, { text: 'a big answer', waitMs: 30 }));
    void events.handle(client, frame(`${COUNTER}.note`, { text: 'queued behind it', waitMs: 0 }));
    // A slow link (a phone): the first answer, or live changes, still wait for it when the second event's turn comes.
    backlogged = true;
    await until(() => drained !== undefined);
    expect(client.errors).toEqual([]);
    expect(client.updates).toHaveLength(1);
    // Out of the queue, it is still held: counted against maxTotalQueuedBytes until it runs (it was not, and each
    // token of a client that does not read held one event of any size there).
    expect(events.queuedBytes).toBeGreaterThan(0);
    backlogged = false;
    drained!();
    await until(() => client.updates.length === 2);
    expect(client.updates.map((update) => update.delta![COUNTER][varKey('log')])).toEqual([['a big answer'], ['a big answer', 'queued behind it']]);
    expect(events.queuedBytes).toBe(0);
  });

  it('with saves that answer later, sends each delta once its save is answered, and runs the token\'s next event after it', async () => {
    const store = new LaterSavingStore();
    const events = await pipeline([CounterState], store);
    const client = await hydratedClient(events);
    const first = events.handle(client, frame(`${COUNTER}.bump`, { by: 2 }));
    void events.handle(client, frame(`${COUNTER}.bump`, { by: 3 }));
    // Nothing is sent before the save is answered: a client never sees a change the store may not have.
    expect(isPromise(first)).toBe(true);
    expect(client.updates).toEqual([]);
    await until(() => client.updates.length === 2);
    expect(client.updates.map((update) => update.delta![COUNTER][varKey('count')])).toEqual([2, 5]);
    expect((await store.read('token-1'))?.[COUNTER]).toMatchObject({ count: 5 });
  });

  it('answers a save that fails with state_unavailable, keeps the stored state, and releases the lock for the next event', async () => {
    const store = new LaterSavingStore();
    const events = await pipeline([CounterState], store);
    const client = await hydratedClient(events);
    await events.handle(client, frame(`${COUNTER}.bump`, { by: 2 }));
    store.failSaves = true;
    await events.handle(client, frame(`${COUNTER}.bump`, { by: 3 }));
    expect(client.errors.map((error) => error.code)).toEqual(['state_unavailable']);
    expect((await store.read('token-1'))?.[COUNTER]).toMatchObject({ count: 2 });
    store.failSaves = false;
    await events.handle(client, frame(`${COUNTER}.bump`, { by: 4 }));
    expect(client.updates.map((update) => update.delta?.[COUNTER]?.[varKey('count')]).filter((count) => count !== undefined)).toEqual([2, 6]);
  });

  it('answers a save that failed at once, without waiting for the lock release behind it (a frozen Redis answers neither)', async () => {
    const store = new LaterSavingStore();
    const events = await pipeline([CounterState], store);
    const client = await hydratedClient(events);
    store.failSaves = true;
    store.hangReleases = true;
    // Before: the error waited for the release, which a frozen Redis answers only after its own commandTimeoutMs
    // (the first event of a busy tab during a freeze took 10 s: 5 s for the save, 5 s more for the release).
    const handled = events.handle(client, frame(`${COUNTER}.bump`, { by: 3 }));
    try {
      await until(() => client.errors.length === 1, 3_000);
      expect(client.errors[0]).toMatchObject({ code: 'state_unavailable' });
    } finally {
      store.thaw();
      await handled;
    }
  });

  it('warns once when it refuses events for the worker\'s maxTotalQueuedBytes, not once per event', async () => {
    // The busy went to the clients only: an operator saw users refused and nothing in the log said why.
    const warnings: string[] = [];
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void warnings.push(String(message)));
    try {
      const events = await pipeline([CounterState], new InMemoryStateStore(), false);
      const client = await hydratedClient(events);
      void events.handle(client, frame(`${COUNTER}.note`, { text: 'slow first', waitMs: 30 }));
      // Other clients' waiting events take the whole worker.
      expect(events.reserveHeld(64_000_000)).toBe(true);
      for (let i = 0; i < 20; i++) void events.handle(client, frame(`${COUNTER}.note`, { text: 'behind it', waitMs: 0 }));
      await until(() => client.errors.length === 20);
      expect(client.errors.every((error) => error.code === 'busy')).toBe(true);
      const lines = warnings.filter((line) => line.includes('maxTotalQueuedBytes'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/64000000/);
      events.releaseHeld(64_000_000);
    } finally {
      warn.mockRestore();
    }
  });

  it('shows a busy refusal past the first again once nothing was shown for REFUSAL_NOTICE_EVERY_MS, each refusal answered once', async () => {
    // Before: only the first busy of the episode was presented; a click refused later, while the worker stayed full,
    // was a bridge_error alone, which a Reflex page ignores: it silently did nothing.
    const realNow = Date.now.bind(Date);
    let offset = 0;
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const events = await pipeline([CounterState], new InMemoryStateStore(), false);
      const client = await hydratedClient(events);
      const presented = () => client.updates.flatMap((update) => update.events ?? []).filter((event) => event.payload['bridge_error'] !== undefined).length;
      void events.handle(client, frame(`${COUNTER}.note`, { text: 'slow first', waitMs: 200 }));
      expect(events.reserveHeld(64_000_000)).toBe(true);
      for (let i = 0; i < 5; i++) void events.handle(client, frame(`${COUNTER}.note`, { text: 'behind it', waitMs: 0 }));
      await until(() => client.errors.length === 5);
      expect(presented()).toBe(1);
      offset += REFUSAL_NOTICE_EVERY_MS;
      for (let i = 0; i < 5; i++) void events.handle(client, frame(`${COUNTER}.note`, { text: 'later', waitMs: 0 }));
      await until(() => client.errors.length === 10);
      expect(client.errors.every((error) => error.code === 'busy')).toBe(true);
      expect(presented()).toBe(2);
      events.releaseHeld(64_000_000);
    } finally {
      clock.mockRestore();
      warn.mockRestore();
    }
  });

  it('logs an outage of saves and releases once when it starts and once when it ends, however many events it fails', async () => {
    const warnings: string[] = [];
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void warnings.push(String(message)));
    try {
      const store = new LaterSavingStore();
      // Without the per-connection budget, which would refuse most of these events before the store.
      const events = await pipeline([CounterState], store, false);
      const client = await hydratedClient(events);
      store.failSaves = true;
      store.failReleases = true;
      for (let i = 0; i < 1_000; i++) await events.handle(client, frame(`${COUNTER}.bump`, { by: 1 }));
      // Every event got its error; the log got one line per kind of failure, not one per event.
      expect(client.errors).toHaveLength(1_000);
      expect(new Set(client.errors.map((error) => error.code))).toEqual(new Set(['state_unavailable']));
      const storeLines = () => warnings.filter((line) => /state store|state lock/i.test(line));
      expect(storeLines()).toHaveLength(2);
      store.failSaves = false;
      store.failReleases = false;
      await events.handle(client, frame(`${COUNTER}.bump`, { by: 1 }));
      expect(storeLines()).toHaveLength(4);
      expect(storeLines().slice(2).join('\n')).toMatch(/answers again; 1000 operations failed/);
    } finally {
      warn.mockRestore();
    }
  });

  it('answers an async handler that throws with its error, keeps the state, and releases the lock for the next event', async () => {
    const store = new LaterSavingStore();
    const events = await pipeline([CounterState], store);
    const client = await hydratedClient(events);
    await events.handle(client, frame(`${COUNTER}.bump`, { by: 2 }));
    await events.handle(client, frame(`${COUNTER}.failLater`));
    expect(client.errors).toHaveLength(1);
    expect(client.errors[0]!.message).toContain('failed after a wait');
    await events.handle(client, frame(`${COUNTER}.bump`, { by: 3 }));
    expect((await store.read('token-1'))?.[COUNTER]).toMatchObject({ count: 5 });
    expect(client.updates.map((update) => update.delta?.[COUNTER]?.[varKey('count')]).filter((count) => count !== undefined)).toEqual([2, 5]);
  });

  it('answers a handler that throws what String() cannot convert, and bounds the error text it logs and sends', async () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      const events = await pipeline();
      const client = await hydratedClient(events);
      await events.handle(client, frame(`${COUNTER}.throwBare`));
      expect(client.errors).toHaveLength(1);
      expect(client.errors[0]).toMatchObject({ code: 'handler_error', event: `${COUNTER}.throwBare` });
      expect(error.mock.calls.map(([line]) => String(line)).join('\n')).toContain(`Event ${COUNTER}.throwBare failed`);

      error.mockClear();
      await events.handle(client, frame(`${COUNTER}.throwQuoting`, { text: 'x'.repeat(300_000) }));
      expect(client.errors).toHaveLength(2);
      expect(client.errors[1]!.message).toMatch(/^Error: Not a valid name: x+… \(\d+ more characters\)$/);
      expect(client.errors[1]!.message.length).toBeLessThan(2_100);
      const logged = error.mock.calls.map(([line]) => String(line)).join('\n');
      expect(logged).toContain(`Event ${COUNTER}.throwQuoting failed: Error: Not a valid name: xxx`);
      expect(logged.length).toBeLessThan(20_000);
    } finally {
      error.mockRestore();
    }
  });

  it('logs a handler error one input sets off a few times a minute, not once per event, and counts the rest', async () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      const events = await pipeline([CounterState], new InMemoryStateStore(), false);
      const client = await hydratedClient(events);
      for (let i = 0; i < 200; i++) await events.handle(client, frame(`${COUNTER}.throwBare`));
      // Every client is still answered: only the log is bounded.
      expect(client.errors).toHaveLength(200);
      const lines = () => error.mock.calls.map(([line]) => String(line)).filter((line) => line.startsWith(`Event ${COUNTER}.`));
      expect(lines()).toHaveLength(5);
      // A client varying the message (each error quoting its input) is bounded by the lines of all kinds together.
      for (let i = 0; i < 300; i++) await events.handle(client, frame(`${COUNTER}.throwQuoting`, { text: `guess-${i}` }));
      expect(client.errors).toHaveLength(500);
      expect(lines()).toHaveLength(100);
    } finally {
      error.mockRestore();
    }
  });

  it('sends a token with no state the whole state before its first event, then runs the event (Reflex\'s implicit rehydrate)', async () => {
    const events = await pipeline();
    const client = recordingClient();
    void events.handle(client, frame(`${COUNTER}.bump`, { by: 2 }));
    await until(() => client.updates.length === 3);
    const [whole, ready, own] = client.updates;
    expect(whole!.delta![COUNTER]).toEqual({ [varKey('count')]: 0, [varKey('log')]: [] });
    // As hydrate sends it (state.js writes no client storage vars from it), then loaded, as on_load_internal says.
    expect(whole!.delta!['reflex___state____state']).toMatchObject({ [varKey('is_hydrated')]: false, [varKey('router')]: expect.objectContaining({ page: expect.objectContaining({ path: '/' }) }) });
    expect(ready).toEqual({ delta: { reflex___state____state: { [varKey('is_hydrated')]: true } } });
    expect(own).toEqual({ delta: { [COUNTER]: { [varKey('count')]: 2 } } });
    // Once the state has seen a page, events carry only their own delta.
    void events.handle(client, frame(`${COUNTER}.bump`, { by: 1 }));
    await until(() => client.updates.length === 4);
    expect(client.updates[3]).toEqual({ delta: { [COUNTER]: { [varKey('count')]: 3 } } });
  });

  it('leaves a request the app keeps after its event without the event: no context, and the state view it ran on is collected', async () => {
    const events = await pipeline([NoteState]);
    const client = await hydratedClient(events);
    void events.handle(client, frame(`${NOTE}.write`, { text: 'kept' }));
    await until(() => client.updates.length === 1);
    expect(client.updates[0]).toEqual({ delta: { [NOTE]: { [varKey('text')]: 'kept' } } });
    expect(contextOf(keptAfterEvent.request!)).toBeUndefined();
    expect(await isCollected(keptAfterEvent.view!)).toBe(true);
  });

  it('leaves an upload\'s request, kept after the upload, without the upload\'s context and state view', async () => {
    const events = await pipeline([AttachmentState]);
    const client = await hydratedClient(events);
    const handler = moduleRef!.get(StateRegistry, { strict: false }).findHandler('reflex___state____state.attachment_state.attach')!;
    const request = { headers: {} } as unknown as SyntheticRequest;
    const routerData = { pathname: '/', query: {}, token: 'token-1', sid: 'sid-token-1', headers: {}, ip: '127.0.0.1' };
    await events.runUpload('token-1', { handler, client, outcome: { tier: 'auth_only', request }, routerData, payload: {}, upload: ['a.txt'], cancel: new AbortController() });
    expect(client.updates).toEqual([{ delta: { 'reflex___state____state.attachment_state': { [varKey('files')]: 1 } } }]);
    expect(keptAfterEvent.request).toBe(request);
    expect(contextOf(request)).toBeUndefined();
    expect(await isCollected(keptAfterEvent.view!)).toBe(true);
  });
});
