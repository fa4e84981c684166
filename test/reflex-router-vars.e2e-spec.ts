/**
 * The root state's router data in the shape each Reflex frontend reads. Reflex 0.9.12 replaced the one `router` var
 * (`{session, headers, page, url, route_id}`) with five (`rx_router_session`, `rx_router_headers`, `rx_router_page`,
 * `rx_router_url`, `rx_router_route_id`): a page compiled by 0.9.12 or later reads only those, so with `router` alone
 * every `State.router` binding on it kept its compiled default, silently. `state.js` announces its Reflex version as
 * the WebSocket subprotocol; the socket here offers it as `state.js` does.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EventHandler, OnLoad, Payload, ReflexBridgeModule, RouteParam, State, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket, type Update } from './support/raw-socket.js';

const ROOT = 'reflex___state____state';
const PRODUCT = `${ROOT}.product`;
const ON_LOAD_INTERNAL = `${ROOT}.reflex___state____on_load_internal_state.on_load_internal`;
const SPLIT_KEYS = ['rx_router_session_rx_state_', 'rx_router_headers_rx_state_', 'rx_router_page_rx_state_', 'rx_router_url_rx_state_', 'rx_router_route_id_rx_state_'];

@State({ name: 'product' })
class ProductState {
  shown = '';
  note = '';

  @OnLoad('/product/[id]')
  show(@RouteParam('id') id: string): void {
    this.shown = id;
  }

  @EventHandler()
  write(@Payload('text') text: string): void {
    this.note = text;
  }
}

const page = (asPath: string) => ({ pathname: asPath.split('?')[0], asPath, query: Object.fromEntries(new URLSearchParams(asPath.split('?')[1] ?? '')) });
/** The root state's vars across every update received, merged as `state.js` merges them. */
const rootOf = (updates: Update[]) => Object.assign({}, ...updates.map((update) => update.delta?.[ROOT] ?? {})) as Record<string, unknown>;
const routerKeysIn = (update: Update) => Object.keys(update.delta?.[ROOT] ?? {}).filter((key) => key === 'router_rx_state_' || key.startsWith('rx_router_'));

describe('router vars in the shape of the Reflex version a tab announces', () => {
  const apps: RunningApp[] = [];
  const sockets: RawSocket[] = [];
  let auto: RunningApp;

  const start = async (options: ReflexBridgeModuleOptions = {}) => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot(options)], providers: [ProductState] });
    apps.push(running);
    return running;
  };
  /** A tab on `app` offering `protocols` (as `state.js` offers its `reflex.json` version), loaded on `asPath`. */
  const tab = async (app: RunningApp, protocols: string[] | undefined, asPath: string) => {
    const socket = new RawSocket(app.url, undefined, { protocols });
    sockets.push(socket);
    await socket.connected();
    await socket.hydrate(page(asPath));
    return socket;
  };

  beforeAll(async () => {
    auto = await start();
  });

  afterAll(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    for (const app of apps.splice(0)) await app.close();
  });

  it('sends a tab of Reflex 0.9.12 or later the five split vars, each the part of the router it names, and no router var', async () => {
    const reflex = await tab(auto, ['0.9.12'], '/product/7?x=1');
    await reflex.untilVar(PRODUCT, 'shown', '7');
    const root = rootOf(reflex.updates);
    expect(root).not.toHaveProperty('router_rx_state_');
    // The path the client sent (the module knows only the routes with on-load handlers, and keeps it for those too).
    expect(root['rx_router_route_id_rx_state_']).toBe('/product/7');
    expect(root['rx_router_page_rx_state_']).toMatchObject({ path: '/product/7', raw_path: '/product/7?x=1', params: { id: '7', x: '1' } });
    expect(root['rx_router_url_rx_state_']).toMatchObject({ path: '/product/7', query: 'x=1', query_parameters: { x: '1' } });
    expect(root['rx_router_session_rx_state_']).toEqual({ client_token: reflex.token, client_ip: expect.any(String), session_id: reflex.socket.id });
    expect(root['rx_router_headers_rx_state_']).toMatchObject({ host: new URL(auto.url).host, cookie: '' });
    expect(reflex.errors).toEqual([]);
  });

  it('sends the split vars again when the tab navigates, and not with events that leave its page as it was', async () => {
    const reflex = await tab(auto, ['0.9.12a1'], '/product/7');
    await reflex.untilVar(PRODUCT, 'shown', '7');
    const before = reflex.updates.length;
    reflex.socket.emit('event', { name: ON_LOAD_INTERNAL, router_data: page('/product/8') });
    await reflex.untilVar(PRODUCT, 'shown', '8');
    const navigation = reflex.updates.slice(before).filter((update) => routerKeysIn(update).length > 0);
    expect(navigation.map(routerKeysIn)).toEqual([SPLIT_KEYS]);
    expect(rootOf(reflex.updates)['rx_router_page_rx_state_']).toMatchObject({ raw_path: '/product/8', params: { id: '8' } });

    const after = reflex.updates.length;
    reflex.send(`${PRODUCT}.write`, { text: 'same page' }, page('/product/8'));
    await reflex.untilVar(PRODUCT, 'note', 'same page');
    expect(reflex.updates.slice(after).flatMap(routerKeysIn)).toEqual([]);
  });

  it('sends a tab of an older Reflex, or one announcing no version, the one router var it reads, with the same data', async () => {
    const split = await tab(auto, ['0.9.12.post1'], '/product/5?x=2');
    for (const protocols of [['0.9.11.post1'], undefined]) {
      const older = await tab(auto, protocols, '/product/5?x=2');
      await older.untilVar(PRODUCT, 'shown', '5');
      const root = rootOf(older.updates);
      expect(Object.keys(root).filter((key) => key.startsWith('rx_router_'))).toEqual([]);
      const router = root['router_rx_state_'] as Record<string, unknown>;
      const splitRoot = rootOf(split.updates);
      // Each part as the split tab got it; the session is each tab's own.
      for (const part of ['page', 'url', 'route_id'] as const) expect(router[part]).toEqual(splitRoot[`rx_router_${part}_rx_state_`]);
      expect(router['session']).toMatchObject({ client_token: older.token });
    }
  });

  it('follows routerVars when it names a shape, whatever the tab announces', async () => {
    const split = await start({ routerVars: 'split' });
    const combined = await start({ routerVars: 'combined' });
    const unannounced = await tab(split, undefined, '/product/1');
    expect(Object.keys(rootOf(unannounced.updates)).filter((key) => key.startsWith('rx_router_')).sort()).toEqual([...SPLIT_KEYS].sort());
    expect(rootOf(unannounced.updates)).not.toHaveProperty('router_rx_state_');
    const reflex = await tab(combined, ['0.9.12'], '/product/1');
    expect(rootOf(reflex.updates)).toHaveProperty('router_rx_state_');
    expect(Object.keys(rootOf(reflex.updates)).filter((key) => key.startsWith('rx_router_'))).toEqual([]);
  });

  it('runs an event whose frame carries trace context beside its fields, as Reflex 0.9.11 with its OpenTelemetry plugin sends it', async () => {
    const reflex = await tab(auto, ['0.9.12'], '/product/3');
    reflex.socket.emit('event', {
      name: `${PRODUCT}.write`,
      payload: { text: 'traced' },
      router_data: page('/product/3'),
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    });
    await reflex.untilVar(PRODUCT, 'note', 'traced');
    expect(reflex.errors).toEqual([]);
  });

  it('refuses a routerVars value it does not know, at startup', async () => {
    await expect(start({ routerVars: 'both' as never })).rejects.toThrow(/routerVars.*"auto", "combined" or "split"/);
  });
});
