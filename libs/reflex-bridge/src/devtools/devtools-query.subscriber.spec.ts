import { describe, expect, it } from '@jest/globals';
import type { AfterQueryEvent, BeforeQueryEvent, DataSource } from 'typeorm';
import { EventTimer } from '../metrics/event-timer.js';
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
});
