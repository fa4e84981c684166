import { describe, expect, it, jest } from '@jest/globals';
import type { DiscoveryService, ModuleRef } from '@nestjs/core';
import { HealthIndicatorService } from '@nestjs/terminus';
import { DatabaseHealthIndicator } from './database.health-indicator.js';

/** A data source whose queries the test answers, as a frozen database does not. */
function frozenDataSource() {
  const queries: Array<() => void> = [];
  const dataSource = {
    isInitialized: true,
    query: () => new Promise<void>((resolve) => queries.push(resolve)),
  };
  return { dataSource, queries };
}

/** A container holding `tokens` (what `DiscoveryService.getProviders()` lists of it). */
function containerOf(...tokens: unknown[]): DiscoveryService {
  return { getProviders: () => tokens.map((token) => ({ token })) } as unknown as DiscoveryService;
}

class DataSource {}

describe('DatabaseHealthIndicator', () => {
  it('sends one SELECT 1 at a time: checks made while it is unanswered are down without taking another connection', async () => {
    const { dataSource, queries } = frozenDataSource();
    const indicator = new DatabaseHealthIndicator(new HealthIndicatorService(), { get: () => dataSource } as unknown as ModuleRef, containerOf(DataSource));
    await indicator.onModuleInit();
    expect(indicator.hasDatabase()).toBe(true);
    // Probes through a freeze: each check times out, down; before, each left its own query holding a pooled connection.
    for (let probe = 0; probe < 5; probe++) {
      expect(await indicator.isHealthy('database', 10)).toMatchObject({ database: { status: 'down' } });
    }
    expect(queries).toHaveLength(1);
    // The database answers: the next check sends a fresh query and is up when it is answered.
    queries[0]!();
    await new Promise((resolve) => setImmediate(resolve));
    // The attempt is a builder: it runs when awaited.
    const next = Promise.resolve(indicator.isHealthy('database', 10_000));
    await new Promise((resolve) => setImmediate(resolve));
    expect(queries).toHaveLength(2);
    queries[1]!();
    expect(await next).toMatchObject({ database: { status: 'up' } });
  });

  it('does not look for a data source (nor load TypeORM) when no provider is registered under a DataSource class', async () => {
    const get = jest.fn(() => frozenDataSource().dataSource);
    const indicator = new DatabaseHealthIndicator(new HealthIndicatorService(), { get } as unknown as ModuleRef, containerOf('DataSource', class Other {}, Symbol('x')));
    await indicator.onModuleInit();
    expect(indicator.hasDatabase()).toBe(false);
    expect(get).not.toHaveBeenCalled();
  });
});
