import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import { LiveBroadcaster } from './live-broadcaster.service.js';
import type { LiveTransport } from './live-transport.js';
import { LiveTransportError } from './live-transport.error.js';
import { ModelChange } from './model-change.js';

/**
 * Makes a fresh transport on `channel`. Called twice per test with the same channel: the two instances play two
 * workers sharing one server, and the channel (lowercase letters, digits and `_`, valid for every engine) keeps
 * tests from hearing each other.
 */
export type LiveTransportFactory = (channel: string) => LiveTransport | Promise<LiveTransport>;

/** Resolves once `predicate` holds, polling; rejects with `what` after `timeoutMs`. */
export async function waitUntil(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// Long enough for a duplicate to show up behind the original on a local server, short enough to keep tests fast.
const SETTLE_MS = 150;
const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

/**
 * Registers the shared Jest suite every {@link LiveTransport} implementation must pass (see its contract):
 * delivery to every worker exactly once and in publish order, data kept intact, `closed` and `not_started`
 * refusals, and delivery surviving a throwing change handler. Call it at the top level of a spec file (third-party
 * transports import it from `@reflex-bridge/nest/testing` and need `@jest/globals` installed); each test creates
 * its own transports through `factory` and closes them after.
 *
 * @param name shown in the suite's title.
 * @param factory see {@link LiveTransportFactory}: two calls with the same channel must reach each other.
 */
export function describeLiveTransportContract(name: string, factory: LiveTransportFactory): void {
  describe(`${name} (LiveTransport contract)`, () => {
    const opened: Array<{ close(): Promise<void> }> = [];
    let counter = 0;
    const channel = () => `contract_${++counter}_${randomBytes(4).toString('hex')}`;

    async function workers(): Promise<[LiveTransport, LiveTransport]> {
      const name = channel();
      const a = await factory(name);
      opened.push(a);
      const b = await factory(name);
      opened.push(b);
      return [a, b];
    }

    async function started(): Promise<{ transports: [LiveTransport, LiveTransport]; seen: [ModelChange[], ModelChange[]] }> {
      const transports = await workers();
      const seen: [ModelChange[], ModelChange[]] = [[], []];
      await transports[0].start((change) => seen[0].push(change));
      await transports[1].start((change) => seen[1].push(change));
      return { transports, seen };
    }

    afterEach(async () => {
      await Promise.allSettled(opened.splice(0).map((item) => item.close()));
    });

    it('delivers a change published on one worker to both workers, exactly once', async () => {
      const { transports, seen } = await started();
      await transports[0].publish(new ModelChange('shop.product', 'updated', 42));
      await waitUntil(() => seen[0].length >= 1 && seen[1].length >= 1, 'the change on both workers');
      await settle();
      for (const received of seen) {
        expect(received).toHaveLength(1);
        expect(received[0]).toBeInstanceOf(ModelChange);
        expect(received[0]).toMatchObject({ modelLabel: 'shop.product', action: 'updated', pk: 42 });
        // The transport stamps the change so receivers can order and de-duplicate.
        expect(received[0].origin?.seq).toBeGreaterThan(0);
      }
    }, 20_000);

    it('carries data and string keys intact', async () => {
      const { transports, seen } = await started();
      const data = { name: 'Café ☕', price: 12.5, tags: ['a', 'b'], nested: { ok: true, none: null } };
      await transports[1].publish(new ModelChange('shop.order', 'created', 'ord-7f3a', data));
      await waitUntil(() => seen[0].length === 1 && seen[1].length === 1, 'the change on both workers');
      for (const [received] of seen) {
        expect(received.toJSON()).toMatchObject({ modelLabel: 'shop.order', action: 'created', pk: 'ord-7f3a', data });
        expect(received.isCreate).toBe(true);
      }
    }, 20_000);

    it('carries data as JSON does on every worker: a Date as its ISO text, a class instance as its fields, NaN as null, not the publisher\'s objects', async () => {
      const { transports, seen } = await started();
      class Row {
        constructor(readonly id = 7, readonly label = 'seven') {}
      }
      const data: Record<string, unknown> = { at: new Date(0), row: new Row(), ratio: Number.NaN, tags: ['a'] };
      await transports[0].publish(new ModelChange('shop.order', 'updated', 'ord-1', data));
      await waitUntil(() => seen[0].length === 1 && seen[1].length === 1, 'the change on both workers');
      // The publisher changes its object afterwards (an entity reused for the next save): nobody's copy follows.
      (data['tags'] as string[]).push('changed later');
      for (const [received] of seen) {
        expect(received.data).toEqual({ at: '1970-01-01T00:00:00.000Z', row: { id: 7, label: 'seven' }, ratio: null, tags: ['a'] });
      }
    }, 20_000);

    it('refuses data JSON cannot carry (a BigInt, a cycle) at publish with a TypeError, and no worker receives it', async () => {
      const { transports, seen } = await started();
      await expect(transports[0].publish(new ModelChange('shop.order', 'updated', 1, { total: BigInt(10) }))).rejects.toThrow(TypeError);
      const cyclic: Record<string, unknown> = {};
      cyclic['self'] = cyclic;
      await expect(transports[0].publish(new ModelChange('shop.order', 'updated', 2, cyclic))).rejects.toThrow(TypeError);
      await transports[0].publish(new ModelChange('shop.order', 'updated', 3));
      await waitUntil(() => seen[0].length >= 1 && seen[1].length >= 1, 'the next change on both workers');
      await settle();
      for (const received of seen) expect(received.map((change) => change.pk)).toEqual([3]);
    }, 20_000);

    it("keeps each publisher's order when both workers publish at once", async () => {
      const { transports, seen } = await started();
      const sends: Promise<void>[] = [];
      for (let i = 0; i < 30; i += 1) {
        sends.push(transports[0].publish(new ModelChange('shop.product', 'updated', i)));
        sends.push(transports[1].publish(new ModelChange('shop.order', 'updated', i)));
      }
      await Promise.all(sends);
      await waitUntil(() => seen[0].length >= 60 && seen[1].length >= 60, '60 changes on both workers');
      await settle();
      for (const received of seen) {
        expect(received).toHaveLength(60);
        const pks = (label: string) => received.filter((c) => c.modelLabel === label).map((c) => c.pk);
        expect(pks('shop.product')).toEqual([...Array(30).keys()]);
        expect(pks('shop.order')).toEqual([...Array(30).keys()]);
      }
    }, 20_000);

    it('brings 100 changes to 200 subscribers on two workers exactly once each, in publish order', async () => {
      const [a, b] = await workers();
      const brokers = [new LiveBroadcaster(a), new LiveBroadcaster(b)];
      opened.push(...brokers);
      await Promise.all(brokers.map((broker) => broker.start()));
      const CHANGES = 100;
      const results: Array<Promise<Array<string | number>>> = [];
      for (let i = 0; i < 200; i += 1) {
        const broker = brokers[i % 2];
        if (i % 4 < 2) {
          // Half the subscribers are async iterators (bounded buffer), half Observables (pushed synchronously).
          const subscription = broker.subscribe('shop.product');
          results.push(
            (async () => {
              const pks: Array<string | number> = [];
              for await (const change of subscription) {
                pks.push(change.pk);
                if (pks.length === CHANGES) break;
              }
              return pks;
            })(),
          );
        } else {
          const pks: Array<string | number> = [];
          const subscription = broker.observe('shop.product').subscribe((change) => pks.push(change.pk));
          opened.push({ close: async () => subscription.unsubscribe() });
          results.push(waitUntil(() => pks.length >= CHANGES, `${CHANGES} changes`, 15_000).then(() => pks));
        }
      }
      expect(brokers[0].subscriberCount('shop.product')).toBe(100);
      expect(brokers[1].subscriberCount('shop.product')).toBe(100);
      const other = brokers[1].subscribe('shop.order');

      // Fired without awaiting each other, so the engine sees them pipelined, as under real load.
      const reached = await Promise.all(
        Array.from({ length: CHANGES }, (_, i) => brokers[0].publish(new ModelChange('shop.product', 'updated', i))),
      );
      // publish() resolves once the change came back to the sender's own subscribers, and counts them.
      expect(reached).toEqual(Array(CHANGES).fill(100));
      const lists = await Promise.all(results);
      await settle();
      const expected = [...Array(CHANGES).keys()];
      for (const list of lists) expect(list.slice(0, CHANGES + 1)).toEqual(expected);
      expect(other.pending).toBe(0);
      other.unsubscribe();
      // The iterator subscribers left their loops (return()), so only the Observable ones remain.
      expect(brokers[0].subscriberCount('shop.product')).toBe(50);
    }, 30_000);

    it('stops delivering after close(), and publish() then rejects with code "closed"', async () => {
      const { transports, seen } = await started();
      await transports[0].close();
      await transports[1].publish(new ModelChange('shop.product', 'deleted', 1));
      await waitUntil(() => seen[1].length === 1, 'the change on the open worker');
      await settle();
      expect(seen[0]).toHaveLength(0);
      await expect(transports[0].publish(new ModelChange('shop.product', 'deleted', 2))).rejects.toMatchObject({
        code: 'closed',
      });
      await transports[0].close(); // idempotent
    }, 20_000);

    it('rejects publish() before start() with code "not_started"', async () => {
      const [a] = await workers();
      const attempt = a.publish(new ModelChange('shop.product', 'created', 1));
      await expect(attempt).rejects.toBeInstanceOf(LiveTransportError);
      await expect(attempt).rejects.toMatchObject({ code: 'not_started' });
    }, 20_000);

    it('keeps delivering after the change handler throws', async () => {
      const [a, b] = await workers();
      const seen: ModelChange[] = [];
      await a.start((change) => {
        seen.push(change);
        if (change.pk === 1) throw new Error('handler failure (expected by the test)');
      });
      await b.start(() => undefined);
      await b.publish(new ModelChange('shop.product', 'updated', 1));
      await b.publish(new ModelChange('shop.product', 'updated', 2));
      await waitUntil(() => seen.length === 2, 'both changes despite the failing handler');
    }, 20_000);
  });
}
