import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable, UseGuards, type CanActivate } from '@nestjs/common';
import { AppState, OnLoad, Payload, ReflexBridgeModule, RouteParam, State, EventHandler, serverEvent } from '@reflex-bridge/nest';
import { createAuthStack, mountHttpAuth } from './fixtures/auth-app.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket, type Update } from './support/raw-socket.js';

const ROOT = 'reflex___state____state';
const HYDRATE = `${ROOT}.hydrate`;
const ON_LOAD_INTERNAL = `${ROOT}.reflex___state____on_load_internal_state.on_load_internal`;
const CATALOGUE = `${ROOT}.catalogue`;
const BANNER = `${ROOT}.banner`;
const PRODUCT = `${ROOT}.product`;
const DOCS = `${ROOT}.docs`;

/** Records the on-load handlers that ran, in order, so the test can read the order across states. */
@Injectable()
class CallLog {
  readonly calls: string[] = [];
  /** What `banner.hold` waits for: lets a test queue events behind a handler that is still running. */
  gate: Promise<void> = Promise.resolve();
}

@Injectable()
class Deny implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

@State({ name: 'catalogue' })
class CatalogueState {
  items: string[] = [];
  loads = 0;
  constructor(private readonly log: CallLog) {}

  @OnLoad('/products')
  async load(): Promise<void> {
    this.log.calls.push('catalogue.load');
    await new Promise((resolve) => setImmediate(resolve));
    this.items = ['tea', 'coffee'];
    this.loads += 1;
  }
}

@State({ name: 'banner' })
class BannerState {
  text = '';
  constructor(private readonly log: CallLog) {}

  @OnLoad('/products')
  @OnLoad('/')
  show(): void {
    this.log.calls.push('banner.show');
    this.text = 'Welcome';
  }

  @EventHandler()
  say(@Payload('text') text: string): void {
    this.text = text;
  }

  @EventHandler()
  async hold(): Promise<void> {
    await this.log.gate;
  }

  @OnLoad('/broken')
  fail(): void {
    throw new Error('on-load failed');
  }

  @OnLoad('/guarded')
  @UseGuards(Deny)
  @EventHandler()
  guarded(): void {
    this.text = 'should not run';
  }
}

@State({ name: 'product' })
class ProductState {
  shown = '';
  numeric = 0;

  @OnLoad('/product/[id]')
  show(@RouteParam('id') id: string): void {
    this.shown = id;
  }

  @OnLoad('/item/[id]')
  showNumber(@RouteParam('id') id: number): void {
    this.numeric = id;
  }

  ordered = '';

  /** An on-load handler that hands the real loading to an event of its own, as Reflex apps often do. */
  @OnLoad('/order/[id]')
  openOrder(): unknown {
    return serverEvent(ProductState, 'loadOrder');
  }

  @EventHandler()
  loadOrder(@RouteParam('id') id: string | undefined): void {
    this.ordered = id ?? '(none)';
  }
}

@State({ name: 'docs' })
class DocsState {
  path = '';

  @OnLoad('/docs/[[...splat]]')
  open(@RouteParam('splat') splat: string[] | undefined): void {
    this.path = splat ? splat.join('/') : '(index)';
  }

  topic = '';

  @OnLoad('/guide/[[topic]]')
  openGuide(@RouteParam('topic') topic: string | undefined): void {
    this.topic = topic ?? '(none)';
  }
}

/** `router_data` as Reflex's state.js builds it: pathname, asPath, and `query` only when it has keys. */
function routerData(pathname: string, query?: Record<string, unknown>): Record<string, unknown> {
  return query ? { pathname, asPath: pathname, query } : { pathname, asPath: pathname };
}

const hydratedAt = (updates: Update[], from = 0) => updates.findIndex((u, i) => i >= from && u.delta?.[ROOT]?.['is_hydrated_rx_state_'] === true);

describe('per-route on-load handlers', () => {
  let running: RunningApp;
  let log: CallLog;
  const logger = new CapturingLogger();
  const sockets: RawSocket[] = [];
  const open = async (token?: string) => {
    const socket = new RawSocket(running.url, token);
    sockets.push(socket);
    await socket.connected();
    return socket;
  };
  /** The frames state.js sends on (re)connect: hydrate then on_load_internal (no payload key when it is empty). */
  const pageLoad = (socket: RawSocket, data: Record<string, unknown>) => {
    socket.socket.emit('event', { name: HYDRATE, router_data: data });
    socket.socket.emit('event', { name: ON_LOAD_INTERNAL, router_data: data });
  };

  beforeAll(async () => {
    running = await startApp({
      imports: [ReflexBridgeModule.forRoot()],
      providers: [CallLog, Deny, CatalogueState, BannerState, ProductState, DocsState],
    }, undefined, logger);
    log = running.app.get(CallLog);
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await running.close();
  });

  it('runs the page’s handlers after on_load_internal on hydrate, in order, then sets is_hydrated', async () => {
    log.calls.length = 0;
    const client = await open();
    pageLoad(client, routerData('/products'));
    await client.until(() => hydratedAt(client.updates) !== -1);
    const loaded = client.updates.findIndex((u) => (u.delta?.[CATALOGUE]?.['items_rx_state_'] as string[] | undefined)?.length === 2);
    const bannered = client.updates.findIndex((u) => u.delta?.[BANNER]?.['text_rx_state_'] === 'Welcome');
    expect(loaded).toBeGreaterThan(0);
    expect(bannered).toBeGreaterThan(loaded);
    // is_hydrated stays false until the last handler ran: Reflex's client holds its queued events until then.
    expect(hydratedAt(client.updates)).toBeGreaterThan(bannered);
    expect(client.updates.slice(1, loaded).every((u) => u.delta?.[ROOT]?.['is_hydrated_rx_state_'] !== true)).toBe(true);
    expect(log.calls).toEqual(['catalogue.load', 'banner.show']);
    expect(client.errors).toEqual([]);
  });

  it('gives a dynamic segment to the handler and to router.page.params, as state.js sends it', async () => {
    const client = await open();
    pageLoad(client, routerData('/product/42', { id: '42' }));
    await client.untilVar(PRODUCT, 'shown', '42');
    await client.until(() => hydratedAt(client.updates) !== -1);
    const router = client.latest(ROOT, 'router') as { page: { params: Record<string, unknown> } };
    expect(router.page.params).toEqual({ id: '42' });
  });

  it('reads the argument from the path when the client does not send it (our client), and updates the router var', async () => {
    const client = await open();
    pageLoad(client, routerData('/product/7/'));
    await client.untilVar(PRODUCT, 'shown', '7');
    const router = client.latest(ROOT, 'router') as { page: { params: Record<string, unknown> } };
    expect(router.page.params).toEqual({ id: '7' });
    // A parameter typed number gets the number; a non-numeric one is refused as bad input, and hydration completes.
    client.socket.emit('event', { name: ON_LOAD_INTERNAL, router_data: routerData('/item/12') });
    await client.untilVar(PRODUCT, 'numeric', 12);
    const before = client.updates.length;
    client.socket.emit('event', { name: ON_LOAD_INTERNAL, router_data: routerData('/item/abc') });
    await client.until(() => client.errors.some((e) => e.code === 'invalid_payload' && e.event === `${PRODUCT}.showNumber`));
    await client.until(() => hydratedAt(client.updates, before) !== -1);
  });

  it('gives the catch-all its segments', async () => {
    const client = await open();
    pageLoad(client, routerData('/docs/guide/setup', { splat: ['guide', 'setup'] }));
    await client.untilVar(DOCS, 'path', 'guide/setup');
    client.socket.emit('event', { name: ON_LOAD_INTERNAL, router_data: routerData('/docs') });
    await client.untilVar(DOCS, 'path', '(index)');
  });

  it('loads an optional-argument page visited without it: state.js sends the missing argument as null', async () => {
    // React Router's useParams() gives `{ topic: undefined }` for `/guide` on `:topic?`, and state.js's encoder
    // replacer writes undefined as null: the frame carries `query: { topic: null }`.
    const client = await open();
    pageLoad(client, routerData('/guide', { topic: null }));
    await client.untilVar(DOCS, 'topic', '(none)');
    await client.until(() => hydratedAt(client.updates) !== -1);
    expect(client.errors).toEqual([]);
    const router = client.latest(ROOT, 'router') as { page: { params: Record<string, unknown> } };
    expect(router.page.params).toEqual({});
    // A page without on-load handlers gets the same frame shape from an optional argument of its own.
    client.socket.emit('event', { name: `${BANNER}.say`, router_data: routerData('/about', { tab: null, q: 'x' }), payload: { text: 'about' } });
    await client.untilVar(BANNER, 'text', 'about');
    client.socket.emit('event', { name: ON_LOAD_INTERNAL, router_data: routerData('/guide/intro', { topic: 'intro' }) });
    await client.untilVar(DOCS, 'topic', 'intro');
    expect(client.errors).toEqual([]);
  });

  it('runs them again on client-side navigation, and just sets is_hydrated on a page without any', async () => {
    log.calls.length = 0;
    const client = await open();
    pageLoad(client, routerData('/about'));
    await client.until(() => hydratedAt(client.updates) !== -1);
    expect(log.calls).toEqual([]);
    // Navigation: state.js sets is_hydrated false itself and sends on_load_internal for the new page.
    const before = client.updates.length;
    client.socket.emit('event', { name: ON_LOAD_INTERNAL, router_data: routerData('/products') });
    await client.until(() => hydratedAt(client.updates, before) !== -1);
    const page = client.updates.slice(before);
    expect(page[0]!.delta![ROOT]).toMatchObject({ is_hydrated_rx_state_: false, router_rx_state_: { page: { path: '/products' } } });
    expect(client.latest(CATALOGUE, 'items')).toEqual(['tea', 'coffee']);
    expect(log.calls).toEqual(['catalogue.load', 'banner.show']);
  });

  it.each([
    ['/', ['banner.show']],
    ['/about', []],
  ])('skips a page’s handlers once the tab navigated again (to %s) before they ran, and marks only the new page hydrated', async (next, calls) => {
    const client = await open();
    pageLoad(client, routerData('/about'));
    await client.until(() => hydratedAt(client.updates) !== -1);
    log.calls.length = 0;
    let release!: () => void;
    log.gate = new Promise((resolve) => (release = resolve));
    // Two navigations queued behind a handler that is still running: the first page's on_load_internal then
    // queues its handlers behind the second page's.
    const before = client.updates.length;
    client.socket.emit('event', { name: `${BANNER}.hold`, router_data: routerData('/about') });
    client.socket.emit('event', { name: ON_LOAD_INTERNAL, router_data: routerData('/products') });
    client.socket.emit('event', { name: ON_LOAD_INTERNAL, router_data: routerData(next) });
    // The ping's answer comes after the server read the three frames before it (one socket, in order).
    await client.ping();
    release();
    const arrived = () => client.updates.findIndex((u, i) => i >= before && (u.delta?.[ROOT]?.['router_rx_state_'] as { page?: { path?: string } } | undefined)?.page?.path === next);
    await client.until(() => arrived() !== -1 && hydratedAt(client.updates, arrived()) !== -1);
    // Everything queued so far has run once an event sent now is answered.
    client.send(`${BANNER}.say`, { text: 'done' }, routerData(next));
    await client.untilVar(BANNER, 'text', 'done');
    expect(log.calls).toEqual(calls);
    expect(client.updates.slice(before).filter((u) => u.delta?.[ROOT]?.['is_hydrated_rx_state_'] === true)).toHaveLength(1);
    expect(client.latest(CATALOGUE, 'loads')).toBe(0);
    expect(client.errors).toEqual([]);
  });

  it('rebuilds the router var from a later event’s router_data, as Reflex does, and sends it only when it changed', async () => {
    const client = await open();
    pageLoad(client, routerData('/products'));
    await client.until(() => hydratedAt(client.updates) !== -1);
    const routerDeltas = () => client.updates.filter((u) => u.delta?.[ROOT]?.['router_rx_state_'] !== undefined).length;
    const before = routerDeltas();
    // rx.call_script("window.history.replaceState({}, '', '?name=test')") is no navigation: the page's next event
    // carries the new URL, and Reflex's router var (router.url.query) shows it from then on.
    const replaced = { pathname: '/products', asPath: '/products?name=test', query: { name: 'test' } };
    client.send(`${BANNER}.say`, { text: 'one' }, replaced);
    await client.untilVar(BANNER, 'text', 'one');
    const router = client.latest(ROOT, 'router') as { url: { query: string }; page: { raw_path: string; params: Record<string, unknown> } };
    expect(router.url.query).toBe('name=test');
    expect(router.page).toMatchObject({ raw_path: '/products?name=test', params: { name: 'test' } });
    expect(routerDeltas()).toBe(before + 1);
    // The same page again: the router var is not sent again.
    client.send(`${BANNER}.say`, { text: 'two' }, replaced);
    await client.untilVar(BANNER, 'text', 'two');
    expect(routerDeltas()).toBe(before + 1);
    expect(client.errors).toEqual([]);
  });

  it('runs an event an on-load handler returns with that page’s route arguments, even after an event from another page', async () => {
    const client = await open();
    pageLoad(client, routerData('/about'));
    await client.until(() => hydratedAt(client.updates) !== -1);
    let release!: () => void;
    log.gate = new Promise((resolve) => (release = resolve));
    // Queued behind a running handler: the order page's on-load handler, then an event the tab sends from its
    // previous location, then the event the on-load handler returned.
    client.socket.emit('event', { name: `${BANNER}.hold`, router_data: routerData('/about') });
    client.socket.emit('event', { name: ON_LOAD_INTERNAL, router_data: routerData('/order/5', { id: '5' }) });
    client.socket.emit('event', { name: `${BANNER}.say`, router_data: routerData('/about'), payload: { text: 'moved' } });
    await client.ping();
    release();
    await client.untilVar(PRODUCT, 'ordered', '5');
    expect(client.latest(BANNER, 'text')).toBe('moved');
    const router = client.latest(ROOT, 'router') as { page: { path: string; params: Record<string, unknown> } };
    expect(router.page).toMatchObject({ path: '/order/5', params: { id: '5' } });
    expect(client.errors).toEqual([]);
  });

  it('runs them again after a reconnect with the same token', async () => {
    const first = await open();
    pageLoad(first, routerData('/products'));
    await first.untilVar(CATALOGUE, 'loads', 1);
    first.close();
    await first.until(() => !first.socket.connected);
    const again = await open(first.token);
    pageLoad(again, routerData('/products'));
    await again.untilVar(CATALOGUE, 'loads', 2);
    await again.until(() => hydratedAt(again.updates) !== -1);
  });

  it('reports a failing or refused handler to the client like any event, and still completes hydration', async () => {
    const client = await open();
    pageLoad(client, routerData('/broken'));
    await client.until(() => hydratedAt(client.updates) !== -1);
    expect(client.errors).toEqual([expect.objectContaining({ code: 'handler_error', event: `${BANNER}.fail` })]);
    expect(logger.lines.some((line) => line.level === 'error' && line.message.includes('on-load failed'))).toBe(true);

    const guarded = await open();
    pageLoad(guarded, routerData('/guarded'));
    await guarded.until(() => hydratedAt(guarded.updates) !== -1);
    expect(guarded.errors).toEqual([expect.objectContaining({ code: 'forbidden', event: `${BANNER}.guarded` })]);
    expect(guarded.latest(BANNER, 'text')).toBe('');
  });

  it('never fails on a hostile pathname: one that is not a string is refused, any string loads its page', async () => {
    const client = await open();
    // 100,000 slashes: far past the 8,192 characters route matching and the router var look at.
    for (const pathname of [42, null, { toString: 'x' }, '/'.repeat(100_000), '/product/%E0%A4%A', '/product/__proto__']) {
      const [updates, errors] = [client.updates.length, client.errors.length];
      client.socket.emit('event', { name: ON_LOAD_INTERNAL, router_data: { pathname } });
      await client.until(() => hydratedAt(client.updates, updates) !== -1 || client.errors.length > errors);
      const refused = pathname !== null && typeof pathname !== 'string';
      expect([pathname, client.errors.slice(errors).map((error) => error.code)]).toEqual([pathname, refused ? ['invalid_event'] : []]);
    }
    expect(client.socket.connected).toBe(true);
    expect(client.latest(PRODUCT, 'shown')).toBe('__proto__');
  });

  it('rehydrates a tab whose state the server lost: the whole state first, then the event, then the page loads', async () => {
    log.calls.length = 0;
    // A token this server has never seen, as after a restart of an in-memory server: the tab sends an event
    // without hydrating again.
    const client = await open();
    client.socket.emit('event', { name: `${BANNER}.say`, router_data: routerData('/products'), payload: { text: 'Hi' } });
    await client.until(() => hydratedAt(client.updates) !== -1);
    const [whole] = client.updates;
    expect(whole!.delta![ROOT]).toMatchObject({ is_hydrated_rx_state_: false, router_rx_state_: { page: { path: '/products' } } });
    expect(whole!.delta![CATALOGUE]).toMatchObject({ items_rx_state_: [], loads_rx_state_: 0 });
    const said = client.updates.findIndex((u) => u.delta?.[BANNER]?.['text_rx_state_'] === 'Hi');
    const loaded = client.updates.findIndex((u) => (u.delta?.[CATALOGUE]?.['items_rx_state_'] as string[] | undefined)?.length === 2);
    expect(said).toBeGreaterThan(0);
    expect(loaded).toBeGreaterThan(said);
    expect(hydratedAt(client.updates)).toBeGreaterThan(loaded);
    expect(log.calls).toEqual(['catalogue.load', 'banner.show']);
    expect(client.errors).toEqual([]);
  });

  it('rehydrates a tab that reconnects to a server that lost its state, running the page loads once', async () => {
    log.calls.length = 0;
    // On reconnect state.js sends on_load_internal without hydrate.
    const client = await open();
    client.socket.emit('event', { name: ON_LOAD_INTERNAL, router_data: routerData('/products') });
    await client.until(() => hydratedAt(client.updates) !== -1);
    expect(client.updates[0]!.delta![CATALOGUE]).toMatchObject({ items_rx_state_: [] });
    expect(client.latest(CATALOGUE, 'items')).toEqual(['tea', 'coffee']);
    expect(log.calls).toEqual(['catalogue.load', 'banner.show']);
  });
});

/** The recipe bridge-tiers.md gives for an `AppState` that shows the signed-in user from the page's first load. */
@State({ name: 'session_state' })
class SessionState extends AppState {
  @OnLoad('/[[...splat]]')
  sync(): void {}
}

describe('an AppState with an on-load handler for every page', () => {
  let running: RunningApp;
  const sockets: RawSocket[] = [];
  beforeAll(async () => {
    const stack = createAuthStack();
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ bridge: { authMiddleware: stack.authMiddleware } })], providers: [SessionState] }, (app) => mountHttpAuth(app, stack));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await running.close();
  });

  it('shows the signed-in user once the page loaded, on any page, with no event of its own', async () => {
    const login = await fetch(`${running.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'wonderland' }) });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    for (const page of ['/', '/orders/42']) {
      const tab = new RawSocket(running.url, undefined, { headers: { cookie } });
      sockets.push(tab);
      await tab.connected();
      await tab.hydrate(routerData(page));
      expect([tab.latest(`${ROOT}.session_state`, 'isAuthenticated'), tab.latest(`${ROOT}.session_state`, 'username')]).toEqual([true, 'alice']);
    }
  });
});
