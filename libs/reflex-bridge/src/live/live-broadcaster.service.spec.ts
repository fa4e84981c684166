import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { config as rxConfig } from 'rxjs';
import { LiveBroadcaster, RECENT_CHANGES_MAX_BYTES } from './live-broadcaster.service.js';
import { LiveTransport } from './live-transport.js';
import { LiveTransportError } from './live-transport.error.js';
import { LIVE_OPTIONS } from './live.options.js';
import { ModelChange } from './model-change.js';
import { InProcessTransport } from './transports/in-process.transport.js';

const change = (pk: number, label = 'shop.product') => new ModelChange(label, 'updated', pk);

/** A transport fake that records calls and lets a test decide what happens (a DI fake, no module mocking). */
class ScriptedTransport extends LiveTransport {
  onChange?: (change: ModelChange) => void;
  published: ModelChange[] = [];
  startFailures = 0;
  echo = true;
  failPublish?: Error;
  closed = 0;

  override async start(onChange: (change: ModelChange) => void): Promise<void> {
    if (this.startFailures > 0) {
      this.startFailures -= 1;
      throw new LiveTransportError('unavailable', 'scripted start failure');
    }
    this.onChange = onChange;
  }

  override async publish(change: ModelChange): Promise<void> {
    if (this.failPublish) throw this.failPublish;
    this.published.push(change);
    if (this.echo) setImmediate(() => this.onChange?.(change));
  }

  override async close(): Promise<void> {
    this.closed += 1;
  }

  /** Whether the scripted connection is up; {@link setConnected} changes it as a network transport would. */
  connected = true;

  override isConnected(): boolean {
    return this.connected;
  }

  setConnected(connected: boolean): void {
    this.connected = connected;
    this.connectionChanged();
  }
}

describe('LiveBroadcaster', () => {
  const brokers: LiveBroadcaster[] = [];
  const make = (...args: ConstructorParameters<typeof LiveBroadcaster>) => {
    const broker = new LiveBroadcaster(...args);
    brokers.push(broker);
    return broker;
  };

  afterEach(async () => {
    jest.restoreAllMocks();
    await Promise.all(brokers.splice(0).map((broker) => broker.close()));
  });

  it('tells transportStatus$ subscribers when the transport connection is lost and when it is back, once each', async () => {
    const transport = new ScriptedTransport();
    const broker = make(transport);
    await broker.start();
    const statuses: string[] = [];
    let completed = false;
    broker.transportStatus$.subscribe({ next: (status) => statuses.push(status), complete: () => (completed = true) });
    transport.setConnected(false);
    transport.setConnected(false); // a second failed attempt of the same outage
    transport.setConnected(true);
    transport.setConnected(true);
    expect(statuses).toEqual(['down', 'up']);
    await broker.close();
    expect(completed).toBe(true);
  });

  it('tells a transportStatus$ subscriber that comes during an outage of it at once, then of its end', async () => {
    const transport = new ScriptedTransport();
    const broker = make(transport);
    await broker.start();
    transport.setConnected(false);
    // Before: a subscriber that came after the 'down' (a provider subscribing once the module started a transport
    // whose server was down) heard nothing until 'up'.
    const late: string[] = [];
    broker.transportStatus$.subscribe((status) => late.push(status));
    expect(late).toEqual(['down']);
    transport.setConnected(true);
    expect(late).toEqual(['down', 'up']);
    // Once it is back, a new subscriber hears nothing until the next change.
    const later: string[] = [];
    broker.transportStatus$.subscribe((status) => later.push(status));
    expect(later).toEqual([]);
    await broker.close();
    const afterClose: string[] = [];
    let completed = false;
    broker.transportStatus$.subscribe({ next: (status) => afterClose.push(status), complete: () => (completed = true) });
    expect(afterClose).toEqual([]);
    expect(completed).toBe(true);
  });

  it('keeps telling the other transport listeners when one throws, and logs it', async () => {
    const transport = new ScriptedTransport();
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const heard: string[] = [];
    transport.onConnectionChange(() => {
      throw new Error('listener bug');
    });
    const stop = transport.onConnectionChange((status) => heard.push(status));
    transport.setConnected(false);
    stop();
    transport.setConnected(true);
    expect(heard).toEqual(['down']);
    expect(logged).toHaveBeenCalledWith(expect.stringContaining('listener bug'));
  });

  it('delivers to the subscribers of the label and returns how many it reached', async () => {
    const broker = make();
    const a = broker.subscribe('shop.product');
    const b = broker.subscribe('shop.product');
    const other = broker.subscribe('shop.order');
    expect(await broker.publish(change(1))).toBe(2);
    expect(await broker.publish(change(2, 'shop.nobody'))).toBe(0);
    expect((await a.next()).value).toMatchObject({ pk: 1 });
    expect((await b.next()).value).toMatchObject({ pk: 1 });
    expect(other.pending).toBe(0);
    expect(broker.subscriberCount('shop.product')).toBe(2);
  });

  it('keeps the publish order for an iterator that reads later', async () => {
    const broker = make();
    const subscription = broker.subscribe('shop.product');
    for (let i = 0; i < 10; i += 1) await broker.publish(change(i));
    const pks: Array<string | number> = [];
    for await (const received of subscription) {
      pks.push(received.pk);
      if (pks.length === 10) break;
    }
    expect(pks).toEqual([...Array(10).keys()]);
  });

  it('drops a subscriber that unsubscribed or whose loop ended, and ends its pending next()', async () => {
    const broker = make();
    const looping = broker.subscribe('shop.product');
    const leaving = broker.subscribe('shop.product');
    const pending = leaving.next();
    leaving.unsubscribe();
    await expect(pending).resolves.toEqual({ value: undefined, done: true });
    expect(leaving.closed).toBe(true);
    const loop = (async () => {
      for await (const received of looping) if (received.pk === 1) break;
    })();
    await broker.publish(change(1));
    await loop;
    expect(looping.closed).toBe(true);
    expect(broker.subscriberCount('shop.product')).toBe(0);
    expect(await broker.publish(change(2))).toBe(0);
  });

  it('bounds the buffer: drops the oldest and warns once per subscriber', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const broker = make(undefined, { bufferSize: 3 });
    const slow = broker.subscribe('shop.product');
    const roomy = broker.subscribe('shop.product', { bufferSize: 10 });
    for (let i = 1; i <= 5; i += 1) await broker.publish(change(i));
    expect(slow.dropped).toBe(2);
    expect(roomy.dropped).toBe(0);
    const read = async () => (await slow.next()).value?.pk;
    expect([await read(), await read(), await read()]).toEqual([3, 4, 5]);
    const warnings = warn.mock.calls.filter(([message]) => String(message).includes('not keeping up'));
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0][0])).toMatch(/"shop\.product".*buffer of 3 changes is full, dropping the oldest/);
  });

  it('pushes to Observable subscribers and forgets them on unsubscribe', async () => {
    const broker = make();
    const seen: Array<string | number> = [];
    const subscription = broker.observe('shop.product').subscribe((received) => seen.push(received.pk));
    expect(await broker.publish(change(1))).toBe(1);
    subscription.unsubscribe();
    expect(broker.subscriberCount('shop.product')).toBe(0);
    expect(await broker.publish(change(2))).toBe(0);
    expect(seen).toEqual([1]);
  });

  it('keeps delivering to the others when an Observable subscriber throws (RxJS reports that error)', async () => {
    // RxJS hands errors thrown by a consumer's next() to config.onUnhandledError (by default: rethrown
    // asynchronously), as for any Observable; the broadcaster's delivery to the other subscribers goes on.
    const reported: unknown[] = [];
    const previous = rxConfig.onUnhandledError;
    rxConfig.onUnhandledError = (error) => reported.push(error);
    try {
      const broker = make();
      const seen: number[] = [];
      broker.observe('shop.product').subscribe(() => {
        throw new Error('subscriber failure');
      });
      broker.observe('shop.product').subscribe((received) => seen.push(Number(received.pk)));
      await broker.publish(change(1));
      await broker.publish(change(2));
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(seen).toEqual([1, 2]);
      expect(reported).toHaveLength(2);
    } finally {
      rxConfig.onUnhandledError = previous;
    }
  });

  it('clear() ends iterators and completes Observables', async () => {
    const broker = make();
    const subscription = broker.subscribe('shop.product');
    let completed = false;
    broker.observe('shop.order').subscribe({ complete: () => (completed = true) });
    const pending = subscription.next();
    broker.clear();
    await expect(pending).resolves.toMatchObject({ done: true });
    expect(completed).toBe(true);
    expect(broker.subscriberCount('shop.product') + broker.subscriberCount('shop.order')).toBe(0);
  });

  it('deliverLocal() reaches local subscribers only, skipping the transport', async () => {
    const transport = new ScriptedTransport();
    const broker = make(transport);
    broker.subscribe('shop.product');
    expect(broker.deliverLocal(change(1))).toBe(1);
    expect(transport.published).toHaveLength(0);
  });

  it('resolves publish() when the change came back through the transport, counting local subscribers', async () => {
    const transport = new ScriptedTransport();
    const broker = make(transport);
    const subscription = broker.subscribe('shop.product');
    expect(await broker.publish(change(1))).toBe(1);
    // Resolved only after the asynchronous echo reached the subscriber.
    expect(subscription.pending).toBe(1);
    expect(transport.published[0].origin?.seq).toBe(1);
  });

  it("counts only this worker's subscribers when workers share a transport channel", async () => {
    const one = make(new InProcessTransport({ channel: 'workers' }));
    const two = make(new InProcessTransport({ channel: 'workers' }));
    await Promise.all([one.start(), two.start()]);
    one.subscribe('shop.product');
    const remote = [two.subscribe('shop.product'), two.subscribe('shop.product')];
    expect(await one.publish(change(1))).toBe(1);
    expect(remote.map((subscription) => subscription.pending)).toEqual([1, 1]);
  });

  it('resolves with 0 and warns once when the echo never comes back', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const transport = new ScriptedTransport();
    transport.echo = false;
    const broker = make(transport, { echoTimeoutMs: 20 });
    broker.subscribe('shop.product');
    expect(await broker.publish(change(1))).toBe(0);
    expect(await broker.publish(change(2))).toBe(0);
    expect(warn.mock.calls.filter(([message]) => String(message).includes('did not come back'))).toHaveLength(1);
  });

  it('rejects publish() with the transport error and delivers nothing', async () => {
    const transport = new ScriptedTransport();
    transport.failPublish = new LiveTransportError('unavailable', 'down');
    const broker = make(transport);
    const subscription = broker.subscribe('shop.product');
    await expect(broker.publish(change(1))).rejects.toMatchObject({ code: 'unavailable' });
    expect(subscription.pending).toBe(0);
  });

  it('retries a failed start on the next publish', async () => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const transport = new ScriptedTransport();
    transport.startFailures = 1;
    const broker = make(transport);
    await expect(broker.publish(change(1))).rejects.toThrow(/scripted start failure/);
    expect(await broker.publish(change(2))).toBe(0);
  });

  it('after close(): the transport is closed once, publish rejects, subscriptions end at once', async () => {
    const transport = new ScriptedTransport();
    const broker = make(transport);
    const subscription = broker.subscribe('shop.product');
    await broker.close();
    await broker.close();
    expect(transport.closed).toBe(1);
    expect(subscription.closed).toBe(true);
    await expect(broker.publish(change(1))).rejects.toMatchObject({ code: 'closed' });
    expect(broker.subscribe('shop.product').closed).toBe(true);
  });

  it('refuses a bad label, bad buffer size and non-ModelChange values', async () => {
    const broker = make();
    expect(() => broker.subscribe('')).toThrow(/non-empty string/);
    expect(() => broker.observe(' ')).toThrow(/non-empty string/);
    expect(() => broker.subscribe('a.b', { bufferSize: 0 })).toThrow(/bufferSize must be a positive integer/);
    await expect(broker.publish({ modelLabel: 'a.b', action: 'created', pk: 1 } as never)).rejects.toThrow(
      /expects a ModelChange/,
    );
  });

  describe('in a Nest module', () => {
    it('works with no providers but itself (in-process default)', async () => {
      const module = await Test.createTestingModule({ providers: [LiveBroadcaster] }).compile();
      await module.init();
      const broker = module.get(LiveBroadcaster);
      const subscription = broker.subscribe('shop.product');
      expect(await broker.publish(change(1))).toBe(1);
      await module.close();
      expect(subscription.closed).toBe(true);
    });

    it("refuses a publish from an app's beforeApplicationShutdown (the transport closed): a LiveTransportError `closed` that says why", async () => {
      let refusal: unknown;
      @Injectable()
      class PublishesAtShutdown implements BeforeApplicationShutdown {
        constructor(private readonly live: LiveBroadcaster) {}
        async beforeApplicationShutdown(): Promise<void> {
          await this.live.publish(new ModelChange('shop.job', 'updated', 7)).catch((error: unknown) => (refusal = error));
        }
      }
      const module = await Test.createTestingModule({ providers: [LiveBroadcaster, PublishesAtShutdown] }).compile();
      await module.init();
      await module.close();
      expect(refusal).toBeInstanceOf(LiveTransportError);
      // Before: 'LiveBroadcaster: start() after close()', naming neither the publish nor the shutdown.
      expect(refusal).toMatchObject({ code: 'closed', message: expect.stringMatching(/^LiveBroadcaster\.publish refused the change updated "shop\.job": the app is shutting down/) });
    });

    it('uses the provided LiveTransport and options, starting it at init and closing it at shutdown', async () => {
      const transport = new ScriptedTransport();
      const module = await Test.createTestingModule({
        providers: [
          LiveBroadcaster,
          { provide: LiveTransport, useValue: transport },
          { provide: LIVE_OPTIONS, useValue: { bufferSize: 2 } },
        ],
      }).compile();
      await module.init();
      expect(transport.onChange).toBeDefined();
      const broker = module.get(LiveBroadcaster);
      const subscription = broker.subscribe('shop.product');
      for (let i = 0; i < 3; i += 1) await broker.publish(change(i));
      expect(subscription.dropped).toBe(1);
      await module.close();
      expect(transport.closed).toBe(1);
    });
  });

  it('keeps live.bufferSize changes of a label for late live lists when it is raised, the byte bound growing with it', () => {
    // An app with busy labels raises live.bufferSize so that a late list gets every change of the last 30 s.
    const broadcaster = new LiveBroadcaster(new ScriptedTransport(), { bufferSize: 20_000 });
    const description = 'd'.repeat(500); // a row's few fields, some 600 bytes of JSON
    for (let pk = 0; pk < 20_000; pk += 1) broadcaster.deliverLocal(new ModelChange('shop.product', 'updated', pk, { description }));
    // Before, the fixed 8 MiB kept 14,346 of them: the oldest 5,654 were dropped silently.
    expect(broadcaster.recentSince('shop.product', 0).length).toBe(20_000);
  });

  it('keeps at most RECENT_CHANGES_MAX_BYTES of received changes for late live lists (8 KB changes from any writer)', () => {
    const broadcaster = new LiveBroadcaster(new ScriptedTransport());
    const filler = 'x'.repeat(7_900);
    // What any role that can NOTIFY the channel can send: 10,000 changes of ~8 KB, 80 MB without a bound in bytes.
    for (let pk = 0; pk < 10_000; pk += 1) broadcaster.deliverLocal(new ModelChange(`spam.label${pk % 10}`, 'updated', pk, { filler }));
    let bytes = 0;
    for (let n = 0; n < 10; n += 1) {
      for (const kept of broadcaster.recentSince(`spam.label${n}`, 0)) bytes += Buffer.byteLength(JSON.stringify(kept));
    }
    expect(RECENT_CHANGES_MAX_BYTES).toBeLessThan(80_000_000);
    expect(bytes).toBeLessThanOrEqual(RECENT_CHANGES_MAX_BYTES);
    expect(bytes).toBeGreaterThan(RECENT_CHANGES_MAX_BYTES - 8_000);
  });
});
