import { describe, expect, it } from '@jest/globals';
import type { HealthCheckResult, HealthCheckService, HealthIndicatorFunction } from '@nestjs/terminus';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import type { LiveBroadcaster } from '../live/live-broadcaster.service.js';
import { InProcessTransport } from '../live/transports/in-process.transport.js';
import { InMemoryStateStore } from '../state/store/in-memory-state.store.js';
import type { DatabaseHealthIndicator } from './database.health-indicator.js';
import type { LiveTransportHealthIndicator } from './live-transport.health-indicator.js';
import type { StateStoreHealthIndicator } from './state-store.health-indicator.js';
import { ReflexHealth } from './reflex-health.service.js';

/** A health service whose database check the test answers, counting the runs. */
function healthWithDatabase(checkIntervalMs = 0) {
  const runs: Array<(up: boolean) => void> = [];
  const terminus = {
    check: (indicators: HealthIndicatorFunction[]) =>
      new Promise<HealthCheckResult>((resolve) => {
        expect(indicators).toHaveLength(1);
        runs.push((up) => resolve({ status: up ? 'ok' : 'error', details: { database: { status: up ? 'up' : 'down' } } } as HealthCheckResult));
      }),
  } as unknown as HealthCheckService;
  const database = { hasDatabase: () => true, isHealthy: () => ({}) } as unknown as DatabaseHealthIndicator;
  const store = new InMemoryStateStore();
  const health = new ReflexHealth(
    { reflexRoutes: { checkTimeoutMs: 2000, checkIntervalMs } } as ResolvedReflexBridgeOptions,
    terminus,
    store,
    { liveTransport: new InProcessTransport() } as unknown as LiveBroadcaster,
    {} as StateStoreHealthIndicator,
    {} as LiveTransportHealthIndicator,
    database,
  );
  return { health, runs, store };
}

describe('ReflexHealth', () => {
  it('answers requests that arrive while a run is under way from that run: one database query, not one each', async () => {
    const { health, runs, store } = healthWithDatabase();
    const answers = Array.from({ length: 100 }, () => health.check());
    expect(runs).toHaveLength(1);
    runs[0]!(true);
    for (const answer of await Promise.all(answers)) expect(answer).toEqual({ httpStatus: 200, body: { status: true, db: true } });
    // The next request after the answer runs the checks again, and sees a change.
    const next = health.check();
    expect(runs).toHaveLength(2);
    runs[1]!(false);
    expect(await next).toEqual({ httpStatus: 503, body: { status: false, db: false } });
    await store.close();
  });

  it('reuses an answer for checkIntervalMs after it came: requests one at a time cost one run per interval', async () => {
    const { health, runs, store } = healthWithDatabase(60_000);
    const first = health.check();
    runs[0]!(false);
    expect(await first).toEqual({ httpStatus: 503, body: { status: false, db: false } });
    for (let request = 0; request < 100; request++) expect(await health.check()).toEqual({ httpStatus: 503, body: { status: false, db: false } });
    expect(runs).toHaveLength(1);
    await store.close();
  });
});
