import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { ReflexBridgeModule, ReflexStateService } from '@reflex-bridge/nest';
import { FragileState } from './fixtures/fragile-vars.states.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

const ROOT = 'reflex___state____state';
const FRAGILE = `${ROOT}.fragile_state`;

describe('state values a client or an odd app value can break', () => {
  let running: RunningApp;
  const logger = new CapturingLogger();
  const sockets: RawSocket[] = [];
  const open = () => RawSocket.hydrated(running.url, sockets);

  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ maxStateBytes: 300_000 })], providers: [FragileState] }, undefined, logger);
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await running.close();
  });

  describe('a computed var that throws for one client', () => {
    it('the saved change still reaches that client, with the other computed vars, and a handler_error names the var', async () => {
      const client = await open();
      const other = await open();
      client.send(`${FRAGILE}.setMode`, { mode: 'boom' });
      // The change was saved: the client must see it, not go on showing `ok` while the server holds `boom`.
      await client.untilVar(FRAGILE, 'mode', 'boom');
      await client.until(() => client.errors.some((error) => error.code === 'handler_error' && error.message.includes('FragileState.summary') && error.event === `${FRAGILE}.setMode`), undefined, 'the computed var error');
      // Further events of that client still deliver what does not depend on the broken getter.
      client.send(`${FRAGILE}.increment`);
      await client.untilVar(FRAGILE, 'doubled', 2);
      expect(client.latest(FRAGILE, 'count')).toBe(1);
      // Another client is untouched.
      other.send(`${FRAGILE}.increment`);
      await other.untilVar(FRAGILE, 'summary', 'ok:1');
      expect(other.errors).toEqual([]);
      expect(logger.lines.some((line) => line.level === 'error' && line.message.includes('Computed var FragileState.summary failed'))).toBe(true);
    });

    it('a client whose computed var throws still hydrates: every other var arrives, with a handler_error', async () => {
      const client = await open();
      client.send(`${FRAGILE}.setMode`, { mode: 'boom' });
      client.send(`${FRAGILE}.increment`);
      await client.untilVar(FRAGILE, 'count', 1);
      const before = client.updates.length;
      const errorsBefore = client.errors.length;
      await client.hydrate();
      const hydrated = client.updates.slice(before).find((update) => update.delta?.[FRAGILE])?.delta?.[FRAGILE];
      expect(hydrated).toMatchObject({ mode_rx_state_: 'boom', count_rx_state_: 1, doubled_rx_state_: 2 });
      expect(hydrated).not.toHaveProperty('summary_rx_state_');
      expect(client.errors.slice(errorsBefore).some((error) => error.code === 'handler_error' && error.message.includes('FragileState.summary') && error.event === `${ROOT}.hydrate`)).toBe(true);
      // Mended by the client's next change: the getter runs again and its value arrives.
      client.send(`${FRAGILE}.setMode`, { mode: 'ok' });
      await client.untilVar(FRAGILE, 'summary', 'ok:1');
    });

    it('its log lines are bounded however many events hit it', async () => {
      const client = await open();
      client.send(`${FRAGILE}.setMode`, { mode: 'boom' });
      await client.untilVar(FRAGILE, 'mode', 'boom');
      const count = () => logger.lines.filter((line) => line.message.includes('Computed var FragileState.summary failed')).length;
      for (let i = 0; i < 30; i++) client.send(`${FRAGILE}.setMode`, { mode: i % 2 ? 'boom' : 'boom2' });
      await client.until(() => client.errors.filter((error) => error.message.includes('FragileState.summary')).length >= 16, undefined, 'every failed event answered');
      expect(count()).toBeLessThanOrEqual(5);
    });
  });

  describe('values JSON cannot carry, put into vars by ordinary handler code', () => {
    it('a BigInt (an ORM\'s BIGINT column) is refused before it is saved: the client keeps hydrating and its next events work', async () => {
      const client = await open();
      client.send(`${FRAGILE}.storeOdd`, { kind: 'bigint' });
      await client.until(() => client.errors.some((error) => error.code === 'handler_error' && error.message.includes('BigInt') && error.event === `${FRAGILE}.storeOdd`), undefined, 'the BigInt refusal');
      client.send(`${FRAGILE}.increment`);
      await client.untilVar(FRAGILE, 'count', 1);
      const errorsBefore = client.errors.length;
      const before = client.updates.length;
      await client.hydrate();
      const hydrated = client.updates.slice(before).find((update) => update.delta?.[FRAGILE])?.delta?.[FRAGILE];
      expect(hydrated).toMatchObject({ items_rx_state_: [], count_rx_state_: 1 });
      expect(client.errors.slice(errorsBefore)).toEqual([]);
    });

    it('an object whose toJSON throws is refused before it is saved, and one whose toJSON is huge counts against maxStateBytes', async () => {
      const client = await open();
      client.send(`${FRAGILE}.storeOdd`, { kind: 'tojson' });
      await client.until(() => client.errors.some((error) => error.code === 'handler_error' && error.message.includes('toJSON threw')), undefined, 'the toJSON refusal');
      client.send(`${FRAGILE}.storeOdd`, { kind: 'hugejson' });
      await client.until(() => client.errors.some((error) => error.code === 'state_too_large'), undefined, 'the size refusal');
      client.send(`${FRAGILE}.increment`);
      await client.untilVar(FRAGILE, 'count', 1);
      const errorsBefore = client.errors.length;
      const before = client.updates.length;
      await client.hydrate();
      const hydrated = client.updates.slice(before).find((update) => update.delta?.[FRAGILE])?.delta?.[FRAGILE];
      expect(hydrated).toMatchObject({ items_rx_state_: [], count_rx_state_: 1 });
      expect(client.errors.slice(errorsBefore)).toEqual([]);
    });

    it('a state of emoji is measured in UTF-8 bytes: 400,000 bytes of them (200,000 UTF-16 units) are refused under a 300,000-byte maxStateBytes', async () => {
      const client = await open();
      client.send(`${FRAGILE}.storeOdd`, { kind: 'emoji' });
      await client.until(() => client.errors.some((error) => error.code === 'state_too_large' && error.event === `${FRAGILE}.storeOdd`), undefined, 'the size refusal');
      client.send(`${FRAGILE}.increment`);
      await client.untilVar(FRAGILE, 'count', 1);
      expect(client.latest(FRAGILE, 'items')).toEqual([]);
    });

    it('a cyclic or too deeply nested value is refused with a message that says so, and the client goes on', async () => {
      const client = await open();
      client.send(`${FRAGILE}.storeOdd`, { kind: 'cycle' });
      await client.until(() => client.errors.some((error) => error.code === 'handler_error' && /refers to itself/.test(error.message)), undefined, 'the cycle refusal');
      client.send(`${FRAGILE}.storeOdd`, { kind: 'deep' });
      await client.until(() => client.errors.some((error) => error.code === 'handler_error' && /nested/.test(error.message)), undefined, 'the depth refusal');
      expect(client.errors.map((error) => error.message).join('\n')).not.toMatch(/call stack/);
      client.send(`${FRAGILE}.increment`);
      await client.untilVar(FRAGILE, 'count', 1);
    });

    it('a Map or a Set (whose entries JSON drops) is refused, not saved at a few bytes whatever it holds', async () => {
      const client = await open();
      client.send(`${FRAGILE}.storeOdd`, { kind: 'map' });
      await client.until(() => client.errors.some((error) => error.code === 'handler_error' && error.message.includes('Map')), undefined, 'the Map refusal');
      client.send(`${FRAGILE}.storeOdd`, { kind: 'set' });
      await client.until(() => client.errors.some((error) => error.code === 'handler_error' && error.message.includes('Set')), undefined, 'the Set refusal');
      client.send(`${FRAGILE}.increment`);
      await client.untilVar(FRAGILE, 'count', 1);
      expect(client.latest(FRAGILE, 'items')).toEqual([]);
    });
  });

  describe('class instances in vars, which the Redis store saves as JSON', () => {
    it('a Date or a DTO a handler stored is, for the next event\'s handler, what JSON makes of it, as with the Redis store', async () => {
      const client = await open();
      client.send(`${FRAGILE}.storeOdd`, { kind: 'date' });
      client.send(`${FRAGILE}.storeOdd`, { kind: 'dto' });
      client.send(`${FRAGILE}.inspect`);
      await client.until(() => client.latest(FRAGILE, 'mode') !== 'ok', undefined, 'the inspection');
      expect(client.latest(FRAGILE, 'mode')).toBe('string,Object');
      expect(client.latest(FRAGILE, 'items')).toEqual(['1970-01-01T00:00:00.000Z', { x: 1, y: 2 }]);
    });
  });

  describe('numbers and undefined JSON cannot carry, set as a whole var', () => {
    it('NaN or undefined set in a var is saved, sent and read back as null, as the Redis store and the client get it', async () => {
      const client = await open();
      client.send(`${FRAGILE}.storeOdd`, { kind: 'nanvar' });
      client.send(`${FRAGILE}.storeOdd`, { kind: 'undefinedvar' });
      client.send(`${FRAGILE}.inspectVars`);
      await client.until(() => client.latest(FRAGILE, 'mode') !== 'ok', undefined, 'the inspection');
      // The next handler sees what the client was sent, not NaN and undefined (which JSON sends as null and as nothing).
      expect(client.latest(FRAGILE, 'mode')).toBe('null null');
      expect(client.latest(FRAGILE, 'count')).toBeNull();
      expect(client.latest(FRAGILE, 'dict')).toBeNull();
    });

    it('NaN inside a list is read back as null by the next handler, as the client has it', async () => {
      const client = await open();
      client.send(`${FRAGILE}.storeOdd`, { kind: 'nan' });
      client.send(`${FRAGILE}.inspect`);
      await client.until(() => client.latest(FRAGILE, 'mode') !== 'ok', undefined, 'the inspection');
      // `inspect` names null `object`, as typeof does; NaN would be `number`.
      expect(client.latest(FRAGILE, 'mode')).toBe('object');
      expect(client.latest(FRAGILE, 'items')).toEqual([null]);
    });
  });

  describe('ReflexStateService.read, from app code outside an event', () => {
    it('returns a copy: changing it changes neither the client\'s stored state nor the initial values of every new client', async () => {
      const states = running.app.get(ReflexStateService);
      // A token with no state yet reads the initial values: a job that appends to them must not change every new client's.
      const fresh = await states.read(randomUUID(), FragileState);
      (fresh['items'] as unknown[]).push('leaked into the defaults');
      (fresh['dict'] as Record<string, unknown>)['leaked'] = true;
      const client = await open();
      expect(client.latest(FRAGILE, 'items')).toEqual([]);
      expect(client.latest(FRAGILE, 'dict')).toEqual({});
      // A client's own state: what a caller does to what it read is not saved behind the lock, unmeasured, unsent.
      client.send(`${FRAGILE}.push`, { item: 'mine' });
      await client.untilVar(FRAGILE, 'items', ['mine']);
      const read = await states.read(client.token, FragileState);
      (read['items'] as unknown[]).push('x'.repeat(1_000_000));
      const before = client.updates.length;
      await client.hydrate();
      const hydrated = client.updates.slice(before).find((update) => update.delta?.[FRAGILE])?.delta?.[FRAGILE];
      expect(hydrated).toMatchObject({ items_rx_state_: ['mine'] });
    });
  });
});

describeWithRedis('state values read back by the next handler with the Redis store, as with the in-memory one', () => {
  let redis: RedisTestServer;
  let running: RunningApp;
  const sockets: RawSocket[] = [];
  const open = () => RawSocket.hydrated(running.url, sockets);

  beforeAll(async () => {
    redis = await RedisTestServer.launch();
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ redisUrl: redis.url })], providers: [FragileState] });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await running?.close();
    await redis?.stop();
  });

  it('a Date or a DTO reads back as its JSON form', async () => {
    const client = await open();
    client.send(`${FRAGILE}.storeOdd`, { kind: 'date' });
    client.send(`${FRAGILE}.storeOdd`, { kind: 'dto' });
    client.send(`${FRAGILE}.inspect`);
    await client.until(() => client.latest(FRAGILE, 'mode') !== 'ok', undefined, 'the inspection');
    expect(client.latest(FRAGILE, 'mode')).toBe('string,Object');
  });

  it('NaN and undefined set as whole vars read back as null', async () => {
    const client = await open();
    client.send(`${FRAGILE}.storeOdd`, { kind: 'nanvar' });
    client.send(`${FRAGILE}.storeOdd`, { kind: 'undefinedvar' });
    client.send(`${FRAGILE}.inspectVars`);
    await client.until(() => client.latest(FRAGILE, 'mode') !== 'ok', undefined, 'the inspection');
    expect(client.latest(FRAGILE, 'mode')).toBe('null null');
    expect(client.latest(FRAGILE, 'dict')).toBeNull();
  });
});
