import { describe, expect, it } from '@jest/globals';
import { DataSource, type AfterQueryEvent, type BeforeQueryEvent } from 'typeorm';
import { EventTimer } from '../metrics/event-timer.js';
import { resolveOptions } from '../reflex-bridge.options.js';
import type { StateRegistry } from '../state/state-registry.service.js';
import { InMemoryStateStore } from '../state/store/in-memory-state.store.js';
import type { TierResolution } from '../bridge/tiers/tier-resolution.service.js';
import { BridgeDevtools } from './bridge-devtools.service.js';
import { DevtoolsQuerySubscriber } from './devtools-query.subscriber.js';

const before = (query: string) => ({ query }) as BeforeQueryEvent;
const after = (query: string, success = true) => ({ query, success }) as AfterQueryEvent;

describe('DevtoolsQuerySubscriber', () => {
  it('adds the queries run inside an event to its trace, and ignores the others', async () => {
    const subscriber = new DevtoolsQuerySubscriber();
    const trace = new EventTimer('s.h', true).trace!;
    subscriber.beforeQuery(before('SELECT outside'));
    await trace.run(async () => {
      subscriber.beforeQuery(before('SELECT 1'));
      await Promise.resolve();
      subscriber.afterQuery(after('SELECT 1'));
      subscriber.beforeQuery(before('UPDATE x'));
      subscriber.afterQuery(after('UPDATE x', false));
    });
    expect(trace.queryCount).toBe(2);
    expect(trace.queries.map((query) => [query.sql, query.failed ?? false])).toEqual([
      ['SELECT 1', false],
      ['UPDATE x', true],
    ]);
    expect(trace.queries.every((query) => query.durationMs !== undefined && query.durationMs >= 0)).toBe(true);
  });

  it('attaches once and detaches', () => {
    const dataSource = { subscribers: [] as unknown[] } as unknown as DataSource;
    const subscriber = new DevtoolsQuerySubscriber();
    subscriber.attach(dataSource).attach(dataSource);
    expect(dataSource.subscribers).toEqual([subscriber]);
    subscriber.detach(dataSource);
    expect(dataSource.subscribers).toEqual([]);
  });

  it("leaves out the queries of work a handler started that runs after its event was recorded (a poller, a fire-and-forget)", async () => {
    const dataSource = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
    await dataSource.initialize();
    try {
      new DevtoolsQuerySubscriber().attach(dataSource);
      const devtools = new BridgeDevtools(resolveOptions({ devtools: true }), { findHandler: () => undefined } as unknown as StateRegistry, new InMemoryStateStore(), {} as TierResolution);
      const timer = new EventTimer('s.poll', true);
      let go!: () => void;
      let background!: Promise<unknown>;
      await timer.trace!.run(async () => {
        await dataSource.query('SELECT 1');
        // Started by the handler, run later: it keeps the handler's async context, hence its trace.
        background = new Promise<void>((resolve) => (go = resolve)).then(async () => {
          for (let i = 0; i < 3; i++) await dataSource.query('SELECT 2');
        });
      });
      timer.add('total', timer.elapsed());
      devtools.record(timer);
      go();
      await background;
      const event = devtools.latest()!;
      expect(event.queryCount).toBe(1);
      expect(event.queries.map((query) => query.sql)).toEqual(['SELECT 1']);
    } finally {
      await dataSource.destroy();
    }
  });
});
