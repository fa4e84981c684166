import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Controller, HttpCode, Module, Param, Post } from '@nestjs/common';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { ReflexBridgeModule, ReflexStateService } from '@reflex-bridge/nest';
import { ChildState, Clock, counterGate, CounterState } from './fixtures/counter.states.js';
import { Gate } from './support/gate.js';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';

const ROOT = 'reflex___state____state';
const COUNTER = `${ROOT}.counter_state`;
const CHILD = `${COUNTER}.child_state`;

/** A route that lets `ReflexStateService`'s errors propagate, as a Nest developer would write it at first. */
@Controller('counter')
class CounterController {
  constructor(private readonly states: ReflexStateService) {}

  @Post(':token/increment')
  @HttpCode(204)
  async increment(@Param('token') token: string): Promise<void> {
    await this.states.modify(token, CounterState, (counter) => void counter.count++);
  }
}

describe('the /_event protocol', () => {
  let running: RunningApp;
  const sockets: RawSocket[] = [];
  const open = async (token?: string) => {
    const socket = new RawSocket(running.url, token);
    sockets.push(socket);
    await socket.connected();
    return socket;
  };

  beforeAll(async () => {
    running = await startApp({
      // Async context on: `currentToken()` (ChildState.rememberToken) needs it.
      imports: [ReflexBridgeModule.forRoot({ maxMessageBytes: 10_000, bridge: { asyncContext: true } })],
      providers: [Clock, CounterState, ChildState],
      controllers: [CounterController],
    });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await running.close();
  });

  it('answers hydrate with the whole state tree under Reflex names, then sets is_hydrated', async () => {
    const client = await open();
    client.send(`${ROOT}.hydrate`, {}, { pathname: '/products', asPath: '/products?q=1', query: { 'sort-by': 'price' } });
    await client.until(() => client.updates.length >= 1);
    const delta = client.updates[0].delta!;
    expect(delta[ROOT]['is_hydrated_rx_state_']).toBe(false);
    expect(delta[ROOT]['router_rx_state_']).toMatchObject({
      session: { client_token: client.token },
      page: { path: '/products', raw_path: '/products?q=1', params: { sort_by: 'price' } },
    });
    // Reflex's shape keeps a `cookie` field; it is always empty here (the cookie header is withheld on purpose).
    expect(delta[ROOT]['router_rx_state_']).toMatchObject({ headers: { cookie: '' } });
    expect(delta[ROOT]['router_rx_state_']).not.toHaveProperty(['headers', 'raw_headers', 'cookie']);
    expect(delta[COUNTER]).toEqual({ count_rx_state_: 0, history_rx_state_: [], big_rx_state_: [], doubled_rx_state_: 0 });
    expect(delta[CHILD]).toEqual({ label_rx_state_: 'child', tokenSeen_rx_state_: '' });
    // Backend vars and injected services never reach the client.
    expect(JSON.stringify(delta)).not.toMatch(/secret|clock/);
    client.send(`${ROOT}.reflex___state____on_load_internal_state.on_load_internal`);
    await client.until(() => client.updates.some((u) => u.delta?.[ROOT]?.['is_hydrated_rx_state_'] === true));
  });

  it('runs a handler and sends only the changed vars and the computed vars that depend on them', async () => {
    const client = await open();
    await client.hydrate();
    const before = client.updates.length;
    client.send(`${COUNTER}.increment`);
    await client.untilVar(COUNTER, 'count', 1);
    expect(client.updates.slice(before)).toEqual([{ delta: { [COUNTER]: { count_rx_state_: 1, doubled_rx_state_: 2 } } }]);
    client.send(`${CHILD}.rename`, { label: 'renamed' });
    await client.untilVar(CHILD, 'label', 'renamed');
    expect(client.updates.at(-1)).toEqual({ delta: { [CHILD]: { label_rx_state_: 'renamed' } } });
  });

  it('echoes the requested WebSocket subprotocol (browsers fail the handshake otherwise)', async () => {
    const port = new URL(running.url).port;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/_event/?EIO=4&transport=websocket&token=${randomUUID()}`, ['0.9.8.post1']);
    const protocol = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => resolve(ws.protocol));
      ws.once('error', reject);
    });
    ws.close();
    expect(protocol).toBe('0.9.8.post1');
  });

  it('refuses a frontend built with Reflex\'s transport="polling" (state.js then connects by long-polling only)', async () => {
    const socket = io(`${running.url}/_event`, { path: '/_event', transports: ['polling'], query: { token: randomUUID() }, reconnection: false, forceNew: true });
    const error = await new Promise<Error>((resolve) => socket.once('connect_error', resolve));
    socket.close();
    expect(error.message).toMatch(/xhr poll error/);
    const answer = await fetch(`${running.url}/_event/?EIO=4&transport=polling&token=${randomUUID()}`);
    expect(answer.status).toBe(400);
    expect(await answer.json()).toEqual({ code: 0, message: 'Transport unknown' });
  });

  it('refuses a connection without a token, or with a malformed one, with a reason', async () => {
    for (const query of [{}, { token: 'x' }, { token: 'bad token with spaces!' }]) {
      const socket = io(`${running.url}/_event`, { path: '/_event', transports: ['websocket'], query, reconnection: false, forceNew: true });
      const error = await new Promise<Error & { data?: { code?: string } }>((resolve) => socket.once('connect_error', resolve));
      socket.close();
      expect(error.message).toMatch(/client token is required/);
      expect(error.data).toEqual({ code: 'no_token' });
    }
  });

  it('sends new_token to a second socket presenting a token held by a live socket, and keeps the two apart', async () => {
    const first = await open();
    await first.hydrate();
    first.send(`${COUNTER}.setCount`, { value: 41 });
    await first.untilVar(COUNTER, 'count', 41);
    const second = new RawSocket(running.url, first.token);
    sockets.push(second);
    await second.connected();
    await second.until(() => second.newTokens.length === 1, 15_000, 'new_token');
    expect(second.newTokens[0]).not.toBe(first.token);
    await second.hydrate();
    expect(second.latest(COUNTER, 'count')).toBe(0);
  });

  it('keeps the token and state of a reloaded tab whose old socket closes only after the new one connected', async () => {
    const first = await open();
    await first.hydrate();
    first.send(`${COUNTER}.setCount`, { value: 9 });
    await first.untilVar(COUNTER, 'count', 9);
    // The reloaded page's socket is in (and admitted as far as the token check) before the old page's one closes:
    // the order a busy worker, or a proxy in between, can see them in.
    const reloaded = new RawSocket(running.url, first.token);
    sockets.push(reloaded);
    await reloaded.connected();
    first.close();
    await reloaded.hydrate();
    expect(reloaded.newTokens).toEqual([]);
    expect(reloaded.latest(COUNTER, 'count')).toBe(9);
  });

  it('keeps the state when a client reconnects with the same token', async () => {
    const token = randomUUID();
    const first = await open(token);
    await first.hydrate();
    first.send(`${COUNTER}.setCount`, { value: 7 });
    await first.untilVar(COUNTER, 'count', 7);
    first.close();
    const states = running.app.get(ReflexStateService);
    await first.until(() => !states.isConnected(token), undefined, 'the server to see the first socket leave');
    const again = await open(token);
    await again.hydrate();
    expect(again.newTokens).toEqual([]);
    expect(again.latest(COUNTER, 'count')).toBe(7);
  });

  it('answers 404, not 500, for a token with no state when a controller lets ReflexStateService throw', async () => {
    const unknown = await fetch(`${running.url}/counter/${randomUUID()}/increment`, { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ statusCode: 404, message: 'No client state exists for this token.', error: 'Not Found' });
    const malformed = await fetch(`${running.url}/counter/not-a-token/increment`, { method: 'POST' });
    expect(malformed.status).toBe(404);
    const client = await open();
    await client.hydrate();
    const known = await fetch(`${running.url}/counter/${client.token}/increment`, { method: 'POST' });
    expect(known.status).toBe(204);
    await client.untilVar(COUNTER, 'count', 1);
  });

  it('streams one delta per yield from an async generator, then the client events', async () => {
    const client = await open();
    await client.hydrate();
    const before = client.updates.length;
    client.send(`${COUNTER}.countdown`, { from: 3 });
    await client.until(() => client.updates.slice(before).some((u) => u.events?.length));
    const counts = client.updates.slice(before).filter((u) => u.delta).map((u) => u.delta![COUNTER]['count_rx_state_']);
    expect(counts).toEqual([3, 2, 1, 0]);
    expect(client.updates.at(-1)).toEqual({
      events: [{ name: '_redirect', payload: { path: '/done', external: false, popup: false, replace: false } }],
    });
  });

  it('tells a handler the client token of its tab', async () => {
    const client = await open();
    await client.hydrate();
    client.send(`${CHILD}.rememberToken`);
    await client.untilVar(CHILD, 'tokenSeen', client.token);
  });

  it('runs server follow-up events after the handler', async () => {
    const client = await open();
    await client.hydrate();
    client.send(`${COUNTER}.chain`);
    await client.untilVar(COUNTER, 'count', 101);
  });

  it('leaves the state exactly as it was when a handler throws, and says so in a structured error', async () => {
    const client = await open();
    await client.hydrate();
    client.send(`${COUNTER}.setCount`, { value: 5 });
    await client.untilVar(COUNTER, 'count', 5);
    client.send(`${COUNTER}.explode`);
    await client.until(() => client.errors.length === 1);
    expect(client.errors[0]).toEqual({ code: 'handler_error', message: 'Error: boom', event: `${COUNTER}.explode` });
    expect(JSON.stringify(client.errors[0])).not.toMatch(/at .*\.ts/);
    client.send(`${COUNTER}.revealSecret`);
    client.send(`${COUNTER}.increment`);
    await client.untilVar(COUNTER, 'count', 6);
    // The backend var kept its old value too: 'backend only'.length === 12.
    expect(client.latest(COUNTER, 'history')).toEqual([12]);
  });

  it('answers every bad input with a structured error and keeps serving that client and the others', async () => {
    const victim = await open();
    await victim.hydrate();
    victim.send(`${COUNTER}.setCount`, { value: 3 });
    await victim.untilVar(COUNTER, 'count', 3);
    const bystander = await open();
    await bystander.hydrate();

    const cases: Array<[unknown, string]> = [
      ['not an object', 'invalid_event'],
      [42, 'invalid_event'],
      [[1, 2], 'invalid_event'],
      [{ payload: {} }, 'invalid_event'],
      [{ name: 7 }, 'invalid_event'],
      [{ name: `${COUNTER}.nope` }, 'unknown_handler'],
      [{ name: `${COUNTER}.notAHandler` }, 'unknown_handler'],
      [{ name: `${COUNTER}._private` }, 'unknown_handler'],
      [{ name: `${COUNTER}.constructor` }, 'unknown_handler'],
      [{ name: `${COUNTER}.setCount`, payload: { value: 'three' } }, 'invalid_payload'],
      [{ name: `${COUNTER}.setCount`, payload: {} }, 'invalid_payload'],
      [{ name: `${COUNTER}.setCount`, payload: 'value=3' }, 'invalid_payload'],
      [{ name: `${COUNTER}.add`, payload: { amount: 5000, note: 'x' } }, 'invalid_payload'],
      [{ name: `${COUNTER}.add`, payload: { amount: 1, note: 'x', admin: true } }, 'invalid_payload'],
      [JSON.parse('{"name":"reflex___state____state.counter_state.add","payload":{"__proto__":{"polluted":true},"amount":1,"note":"x"}}'), 'invalid_payload'],
      [{ name: `${COUNTER}.add`, payload: { constructor: { prototype: { polluted: true } }, amount: 1, note: 'x' } }, 'invalid_payload'],
    ];
    // One at a time: envelope errors are answered at once, the others after the client's queued events.
    for (const [frame, code] of cases) {
      const seen = victim.errors.length;
      victim.socket.emit('event', frame);
      await victim.until(() => victim.errors.length > seen, 2000, `an error for ${JSON.stringify(frame)}`);
      expect([JSON.stringify(frame), victim.errors.at(-1)!.code]).toEqual([JSON.stringify(frame), code]);
    }
    // Over the limit (10 kB here) but under the hard cap of twice the limit: an error, the connection stays.
    victim.send(`${COUNTER}.setCount`, { value: 'x'.repeat(15_000) });
    await victim.until(() => victim.errors.length === cases.length + 1, 2000, 'payload_too_large');
    expect(victim.errors.at(-1)!.code).toBe('payload_too_large');
    expect(victim.errors.find((error) => error.details?.[0]?.startsWith("amount"))?.details).toEqual([expect.stringMatching(/^amount: amount must not be greater than 1000/)]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    // Nothing changed, the server still answers the victim, and the bystander saw nothing.
    victim.send(`${COUNTER}.increment`);
    await victim.untilVar(COUNTER, 'count', 4);
    expect(bystander.errors).toEqual([]);
    bystander.send(`${COUNTER}.increment`);
    await bystander.untilVar(COUNTER, 'count', 1);
  });

  it('validates a DTO payload and hands the handler a typed instance', async () => {
    const client = await open();
    await client.hydrate();
    client.send(`${COUNTER}.add`, { amount: 5, note: 'five' });
    await client.untilVar(COUNTER, 'count', 5);
    expect(client.latest(COUNTER, 'history')).toEqual([5]);
  });

  it('handles each client\'s events in order, and 50 clients × 100 events end exactly right', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, () => open()));
    await Promise.all(clients.map((client) => client.hydrate()));
    const hydrated = clients.map((client) => client.updates.length);
    for (const client of clients) {
      for (let i = 0; i < 100; i++) client.send(`${COUNTER}.add`, { amount: 1, note: String(i) });
    }
    await Promise.all(clients.map((client) => client.untilVar(COUNTER, 'count', 100, 30_000)));
    for (const [index, client] of clients.entries()) {
      const counts = client.updates.slice(hydrated[index]).filter((u) => u.delta?.[COUNTER]).map((u) => u.delta![COUNTER]['count_rx_state_']);
      expect(counts).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(client.errors).toEqual([]);
    }
  }, 60_000);

  it('keeps a tab\'s order when a synchronous event follows ones that must wait (DTO validation, a slow handler)', async () => {
    const client = await open();
    await client.hydrate();
    const before = client.updates.length;
    // `add` validates a DTO (asynchronous) and `slow` awaits: the synchronous `increment` sent right after
    // each must still run after it, never overtake it.
    client.send(`${COUNTER}.add`, { amount: 5, note: 'dto' });
    client.send(`${COUNTER}.increment`);
    client.send(`${COUNTER}.slow`, { ms: 200 });
    client.send(`${COUNTER}.increment`);
    await client.untilVar(COUNTER, 'count', 8);
    const counts = client.updates.slice(before).filter((u) => u.delta?.[COUNTER]).map((u) => u.delta![COUNTER]['count_rx_state_']);
    expect(counts).toEqual([5, 6, 7, 8]);
    expect(client.errors).toEqual([]);
  });

  it('does not hold one client\'s events behind another client\'s slow handler', async () => {
    const slow = await open();
    const fast = await open();
    await Promise.all([slow.hydrate(), fast.hydrate()]);
    // The slow handler runs until the test opens its gate (a 1.5 s sleep and "answered within 1.5 s" could fail on a
    // loaded machine): the fast client's answer can only come while it runs, or never, if it were held behind it.
    const gate = (counterGate.current = new Gate());
    slow.send(`${COUNTER}.waitAtGate`);
    try {
      await gate.entered;
      fast.send(`${COUNTER}.increment`);
      await fast.untilVar(COUNTER, 'count', 1);
      expect(slow.latest(COUNTER, 'count')).toBe(0);
    } finally {
      gate.release();
    }
    await slow.untilVar(COUNTER, 'count', 1);
  });

  it('answers ping and accepts client_error reports', async () => {
    const client = await open();
    const pong = new Promise((resolve) => client.socket.once('ping', resolve));
    client.socket.emit('ping');
    await expect(pong).resolves.toBe('pong');
    client.socket.emit('client_error', { message: 'dispatch missing', error_type: 'dispatch_function_missing' });
    await client.hydrate();
  });
});

describe('ReflexBridgeModule configuration', () => {
  const roundTrip = async (running: RunningApp) => {
    const client = new RawSocket(running.url);
    try {
      await client.connected();
      await client.hydrate();
      client.send(`${COUNTER}.increment`);
      await client.untilVar(COUNTER, 'count', 1);
    } finally {
      client.close();
      await running.close();
    }
  };

  class OptionsFactory {
    createReflexBridgeOptions() {
      return { maxMessageBytes: 50_000 };
    }
  }
  @Module({ providers: [OptionsFactory], exports: [OptionsFactory] })
  class OptionsModule {}

  it('works with forRoot', async () => {
    await roundTrip(await startApp({ imports: [ReflexBridgeModule.forRoot({})], providers: [Clock, CounterState] }));
  });

  it('says what to use instead when a handler calls a free accessor with asyncContext off (the default)', async () => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({})], providers: [Clock, CounterState, ChildState] });
    const client = new RawSocket(running.url);
    try {
      await client.connected();
      await client.hydrate();
      client.send(`${CHILD}.rememberToken`);
      await client.until(() => client.errors.length > 0, 5000, 'a bridge_error');
      expect(client.errors[0]).toMatchObject({ code: 'handler_error', event: `${CHILD}.rememberToken` });
      expect(client.errors[0].message).toMatch(/currentToken\(\) is not available in .*rememberToken: `bridge\.asyncContext` is off/);
      // The state is untouched and the connection keeps working.
      client.send(`${COUNTER}.increment`);
      await client.untilVar(COUNTER, 'count', 1);
      expect(client.latest(CHILD, 'tokenSeen')).toBe('');
    } finally {
      client.close();
      await running.close();
    }
  });

  it('works with forRootAsync useFactory + inject', async () => {
    await roundTrip(
      await startApp({
        imports: [
          ReflexBridgeModule.forRootAsync({
            imports: [OptionsModule],
            inject: [OptionsFactory],
            useFactory: (factory: OptionsFactory) => factory.createReflexBridgeOptions(),
          }),
        ],
        providers: [Clock, CounterState],
      }),
    );
  });

  it('works with forRootAsync useClass', async () => {
    await roundTrip(await startApp({ imports: [ReflexBridgeModule.forRootAsync({ useClass: OptionsFactory })], providers: [Clock, CounterState] }));
  });

  it('works with forRootAsync useExisting', async () => {
    await roundTrip(
      await startApp({
        imports: [ReflexBridgeModule.forRootAsync({ imports: [OptionsModule], useExisting: OptionsFactory })],
        providers: [Clock, CounterState],
      }),
    );
  });

  it('serves a custom path as both the Engine.IO path and the namespace', async () => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ path: '/api/_event' })], providers: [Clock, CounterState] });
    const client = new RawSocket(running.url, undefined, { path: '/api/_event' });
    try {
      await client.connected();
      await client.hydrate();
    } finally {
      client.close();
      await running.close();
    }
  });

  it('tokenHandoverGraceMs: 0 sends new_token at once to a socket presenting a live token, even a reload\'s', async () => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ tokenHandoverGraceMs: 0 })], providers: [Clock, CounterState] });
    const first = new RawSocket(running.url);
    const second = new RawSocket(running.url, first.token);
    try {
      await first.connected();
      await first.hydrate();
      await second.connected();
      // No grace: the second socket is a duplicated tab from the start.
      await second.until(() => second.newTokens.length === 1, 15_000, 'new_token');
      expect(second.newTokens[0]).not.toBe(first.token);
    } finally {
      first.close();
      second.close();
      await running.close();
    }
  });

  it('tokenHandoverGraceMs: a longer grace keeps a reload\'s token however late its old socket closes', async () => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ tokenHandoverGraceMs: 600_000 })], providers: [Clock, CounterState] });
    const first = new RawSocket(running.url);
    const reloaded = new RawSocket(running.url, first.token);
    try {
      await first.connected();
      await first.hydrate();
      first.send(`${COUNTER}.setCount`, { value: 5 });
      await first.untilVar(COUNTER, 'count', 5);
      await reloaded.connected();
      // Past the default grace (2 s), measured from after the new socket was admitted as far as the wait: with the
      // default, it would have been given a new token by now.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      first.close();
      await reloaded.hydrate();
      expect(reloaded.newTokens).toEqual([]);
      expect(reloaded.latest(COUNTER, 'count')).toBe(5);
    } finally {
      first.close();
      reloaded.close();
      await running.close();
    }
  });

  it('refuses a WebSocket handshake from an origin not in corsOrigins', async () => {
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ corsOrigins: ['http://shop.example'] })], providers: [Clock, CounterState] });
    const evil = new RawSocket(running.url, undefined, { headers: { origin: 'http://evil.example' } });
    const good = new RawSocket(running.url, undefined, { headers: { origin: 'http://shop.example' } });
    try {
      await expect(evil.connected()).rejects.toThrow();
      await good.connected();
      await good.hydrate();
    } finally {
      evil.close();
      good.close();
      await running.close();
    }
  });

  it('stops the app at startup with a message naming an invalid option', async () => {
    await expect(
      startApp({ imports: [ReflexBridgeModule.forRoot({ bridge: { mode: 'fastest' as never } })], providers: [Clock, CounterState] }),
    ).rejects.toThrow('invalid option "bridge.mode"');
    await expect(startApp({ imports: [ReflexBridgeModule.forRoot({ maxMessageBytes: -1 })] })).rejects.toThrow('invalid option "maxMessageBytes"');
    await expect(startApp({ imports: [ReflexBridgeModule.forRoot({ colour: 'blue' } as never)] })).rejects.toThrow('invalid option "colour"');
    await expect(startApp({ imports: [ReflexBridgeModule.forRoot({ bridge: { mood: 'smart' } as never })] })).rejects.toThrow('invalid option "bridge.mood"');
  });
});
