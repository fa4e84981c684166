import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ClientStorageVars, Cookie, EventHandler, LocalStorage, Payload, ReflexBridgeModule, ReflexStateService, SessionStorage, State } from '@reflex-bridge/nest';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';

const ROOT = 'reflex___state____state';
const HYDRATE = `${ROOT}.hydrate`;
const ON_LOAD_INTERNAL = `${ROOT}.reflex___state____on_load_internal_state.on_load_internal`;
const UPDATE_VARS_INTERNAL = `${ROOT}.reflex___state____update_vars_internal_state.update_vars_internal`;
const PREFS = `${ROOT}.prefs_state`;
const LIMIT = 1000;

@State()
class PrefsState {
  @Cookie({ name: 'theme', maxAge: 3600, sameSite: 'strict' })
  theme = 'light';
  @LocalStorage({ sync: true })
  category = '';
  @SessionStorage({ name: 'draft' })
  draft = '';
  plain = 'server';

  get label(): string {
    return `${this.theme}/${this.category}`;
  }

  @EventHandler()
  setCategory(@Payload('value') value: string): void {
    this.category = value;
  }
}

const ROUTER = { pathname: '/', asPath: '/' };

describe('client storage vars', () => {
  let running: RunningApp;
  let states: ReflexStateService;
  const sockets: RawSocket[] = [];
  const open = async (token?: string) => {
    const socket = new RawSocket(running.url, token);
    sockets.push(socket);
    await socket.connected();
    return socket;
  };
  /** What state.js sends when a page loads with values in the browser: hydrate, update_vars_internal, on_load_internal. */
  const pageLoad = (socket: RawSocket, vars?: Record<string, unknown>) => {
    socket.socket.emit('event', { name: HYDRATE, router_data: ROUTER });
    if (vars) socket.socket.emit('event', { name: UPDATE_VARS_INTERNAL, payload: { vars }, router_data: ROUTER });
    socket.socket.emit('event', { name: ON_LOAD_INTERNAL, router_data: ROUTER });
  };
  const hydrated = (socket: RawSocket, from = 0) => socket.updates.some((u, i) => i >= from && u.delta?.[ROOT]?.['is_hydrated_rx_state_'] === true);

  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ maxClientStorageValueLength: LIMIT })], providers: [PrefsState] }, undefined, new CapturingLogger());
    states = running.app.get(ReflexStateService);
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await running.close();
  });

  it("publishes the client storage map under the keys state.js reads and writes", () => {
    expect(running.app.get(ClientStorageVars).map()).toEqual({
      cookies: { [`${PREFS}.theme_rx_state_`]: { name: 'theme', path: '/', maxAge: 3600, sameSite: 'strict' } },
      local_storage: { [`${PREFS}.category_rx_state_`]: { sync: true } },
      session_storage: { [`${PREFS}.draft_rx_state_`]: { name: 'draft' } },
    });
  });

  it('applies the browser’s values sent on hydrate, with the computed vars that depend on them', async () => {
    const client = await open();
    pageLoad(client, { [`${PREFS}.theme_rx_state_`]: 'dark', [`${PREFS}.category_rx_state_`]: 'Tea', [`${PREFS}.draft_rx_state_`]: 'hello' });
    await client.until(() => hydrated(client));
    // The hydrate answer carries is_hydrated false: state.js skips writing storage from it.
    expect(client.updates[0]!.delta![ROOT]!['is_hydrated_rx_state_']).toBe(false);
    expect(client.updates[0]!.delta![PREFS]).toMatchObject({ theme_rx_state_: 'light', category_rx_state_: '' });
    // Then one delta with the applied values, keyed so that `${substate}.${key}` is the map's wire name.
    expect(client.updates[1]!.delta).toEqual({
      [PREFS]: { theme_rx_state_: 'dark', category_rx_state_: 'Tea', draft_rx_state_: 'hello', label_rx_state_: 'dark/Tea' },
    });
    expect(await states.read(client.token, PrefsState)).toMatchObject({ theme: 'dark', category: 'Tea', draft: 'hello' });
  });

  it('sends a change a handler makes under the var’s wire name (state.js writes it to the browser)', async () => {
    const client = await open();
    pageLoad(client);
    await client.until(() => hydrated(client));
    client.socket.emit('event', { name: `${PREFS}.setCategory`, payload: { value: 'Coffee' }, router_data: ROUTER });
    await client.untilVar(PREFS, 'category', 'Coffee');
    const delta = client.updates.at(-1)!.delta!;
    const wireNames = Object.entries(delta).flatMap(([state, vars]) => Object.keys(vars).map((key) => `${state}.${key}`));
    expect(wireNames).toContain(`${PREFS}.category_rx_state_`);
  });

  it('resets storage vars on hydrate, so a value the browser dropped is dropped on the server', async () => {
    const first = await open();
    pageLoad(first, { [`${PREFS}.theme_rx_state_`]: 'dark' });
    await first.untilVar(PREFS, 'theme', 'dark');
    first.close();
    await first.until(() => !first.socket.connected);
    // The user cleared the cookie: the reconnecting tab sends no value for it.
    const again = await open(first.token);
    pageLoad(again);
    await again.until(() => hydrated(again));
    expect(again.updates[0]!.delta![PREFS]).toMatchObject({ theme_rx_state_: 'light', label_rx_state_: 'light/' });
    expect((await states.read(again.token, PrefsState)).theme).toBe('light');
  });

  it('never hands state.js the initial storage values as hydrated when it rehydrates a tab the server lost, so the browser keeps its own', async () => {
    // A tab whose state the server forgot (an in-memory server restarted) sends an ordinary event, on a page with no
    // on-load handlers. state.js writes the storage vars of every delta to the browser, except from one that reports
    // is_hydrated false: the whole state, holding their initial values, must be such a delta.
    const client = await open();
    client.socket.emit('event', { name: `${PREFS}.setCategory`, payload: { value: 'Tea' }, router_data: ROUTER });
    await client.untilVar(PREFS, 'category', 'Tea');
    const whole = client.updates.findIndex((u) => u.delta?.[PREFS]?.['theme_rx_state_'] === 'light');
    expect(whole).toBe(0);
    expect(client.updates[0]!.delta![ROOT]!['is_hydrated_rx_state_']).toBe(false);
    // Then hydrated, as on_load_internal reports it, before the event's own delta.
    const ready = client.updates.findIndex((u) => u.delta?.[ROOT]?.['is_hydrated_rx_state_'] === true);
    expect(ready).toBe(1);
    expect(client.updates[ready]!.delta).toEqual({ [ROOT]: { is_hydrated_rx_state_: true } });
    expect(client.errors).toEqual([]);
  });

  it('applies a synced change from another tab (the storage event state.js forwards), null meaning removed', async () => {
    const client = await open();
    pageLoad(client, { [`${PREFS}.category_rx_state_`]: 'Tea' });
    await client.untilVar(PREFS, 'category', 'Tea');
    client.socket.emit('event', { name: UPDATE_VARS_INTERNAL, payload: { vars: { [`${PREFS}.category_rx_state_`]: 'Cups' } }, router_data: ROUTER });
    await client.untilVar(PREFS, 'category', 'Cups');
    client.socket.emit('event', { name: UPDATE_VARS_INTERNAL, payload: { vars: { [`${PREFS}.category_rx_state_`]: null } }, router_data: ROUTER });
    await client.untilVar(PREFS, 'category', '');
  });

  describe('hostile update_vars_internal payloads', () => {
    const send = (socket: RawSocket, payload: unknown) => socket.socket.emit('event', { name: UPDATE_VARS_INTERNAL, payload, router_data: ROUTER });

    it('ignores vars that are not declared storage vars, and names that reach for prototypes', async () => {
      const client = await open();
      pageLoad(client);
      await client.until(() => hydrated(client));
      const before = client.updates.length;
      send(client, {
        vars: {
          [`${PREFS}.plain_rx_state_`]: 'client',
          [`${PREFS}.label_rx_state_`]: 'client',
          [`${PREFS}.constructor_rx_state_`]: 'x',
          [`${ROOT}.is_hydrated_rx_state_`]: 'x',
          [`${ROOT}.router_rx_state_`]: 'x',
          'nothing.at.all': 'x',
        },
      });
      // An event after it that answers: everything before it has been handled.
      client.socket.emit('event', { name: `${PREFS}.setCategory`, payload: { value: 'marker' }, router_data: ROUTER });
      await client.untilVar(PREFS, 'category', 'marker');
      expect(client.updates.slice(before)).toHaveLength(1);
      expect(client.errors).toEqual([]);
      expect(await states.read(client.token, PrefsState)).toMatchObject({ plain: 'server', category: 'marker' });
    });

    it('refuses non-strings, oversized values and malformed payloads with invalid_payload, applying nothing', async () => {
      const client = await open();
      pageLoad(client);
      await client.until(() => hydrated(client));
      const category = `${PREFS}.category_rx_state_`;
      const bad: unknown[] = [
        { vars: { [category]: 'fine', [`${PREFS}.theme_rx_state_`]: 42 } },
        { vars: { [category]: { nested: 'object' } } },
        { vars: { [category]: ['Tea'] } },
        { vars: { [category]: 'x'.repeat(LIMIT + 1) } },
        { vars: 'theme=dark' },
        { vars: ['Tea'] },
        JSON.parse(`{"vars": {"__proto__": {"polluted": "yes"}, "${category}": "proto"}}`),
        JSON.parse(`{"vars": {"${category}": "ctor", "constructor": {"prototype": {"polluted": "yes"}}}}`),
      ];
      for (const [index, payload] of bad.entries()) {
        send(client, payload);
        await client.until(() => client.errors.length === index + 1, undefined, `error ${index + 1}`);
        // Prototype keys are refused while the frame is parsed, before its name is read: no `event` on those.
        expect(client.errors[index]).toMatchObject(index < 6 ? { code: 'invalid_payload', event: UPDATE_VARS_INTERNAL } : { code: 'invalid_payload' });
      }
      expect(client.errors[0]!.details?.[0]).toContain(`${PREFS}.theme_rx_state_: expected a string, got number`);
      expect(client.errors[3]!.details?.[0]).toContain(`longer than ${LIMIT} characters`);
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      expect(await states.read(client.token, PrefsState)).toMatchObject({ category: '', theme: 'light' });
      expect(client.socket.connected).toBe(true);
      // A value at the limit is fine.
      send(client, { vars: { [category]: 'y'.repeat(LIMIT) } });
      await client.untilVar(PREFS, 'category', 'y'.repeat(LIMIT));
    });
  });
});
