import { Inject, Injectable, Logger, Optional, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, type HealthCheckResult, type HealthIndicatorFunction } from '@nestjs/terminus';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { StateStore } from '../state/store/state-store.js';
import { RedisStateStore } from '../state/store/redis-state.store.js';
import { InMemoryStateStore } from '../state/store/in-memory-state.store.js';
import { LiveBroadcaster } from '../live/live-broadcaster.service.js';
import { InProcessTransport } from '../live/transports/in-process.transport.js';
import { RedisTransport } from '../live/transports/redis.transport.js';
import { PostgresTransport } from '../live/transports/postgres.transport.js';
import { StateStoreHealthIndicator } from './state-store.health-indicator.js';
import { LiveTransportHealthIndicator } from './live-transport.health-indicator.js';
import { DatabaseHealthIndicator } from './database.health-indicator.js';
import { RedisSubscriberHealthIndicator } from './redis-subscriber.health-indicator.js';

/** Reflex's `/_health` body: `db` and `redis` appear only when the app uses them. @publicApi */
export interface ReflexHealthBody {
  status: boolean;
  db?: boolean;
  redis?: boolean;
}

/** Which key of Reflex's body a check counts under: `undefined` counts for `status` only. */
type ReflexKey = 'db' | 'redis' | undefined;

interface Check {
  /** The terminus indicator key. */
  key: string;
  reflexKey: ReflexKey;
  run: HealthIndicatorFunction;
}

/**
 * Runs the module's health checks on `@nestjs/terminus` and answers in Reflex's shape (its `/_health`):
 * - the state store: a `RedisStateStore` counts as `redis`; a custom store counts for `status` only; the
 *   in-memory default is not checked;
 * - the live transport: `RedisTransport` counts as `redis`, `PostgresTransport` as `db`, a custom transport for
 *   `status` only; the in-process default is not checked. Connected, and answering its `ping()` when it has one
 *   (a frozen server keeps the connection "connected");
 * - with the module's Redis connections (`redisUrl` or `redisCluster`), the shared subscriber connection, as `redis`:
 *   a message the worker publishes must come back on it, on a cluster one per master on its sharded channels too
 *   ({@link RedisSubscriberHealthIndicator}), since a subscriber that hears nothing leaves the worker without
 *   broadcasts and live updates while every command still works;
 * - the app's TypeORM `DataSource`, when it has one, as `db`.
 * A key is false when any check under it is down, and `status` when any check is. Failing checks are logged when
 * they change (the first failure of an outage, with each failing check's details; then that all pass again), not on
 * every run: the route is public, and a client requesting it during an outage would otherwise write the log.
 * @publicApi
 */
@Injectable()
export class ReflexHealth {
  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly terminus: HealthCheckService,
    private readonly store: StateStore,
    private readonly broadcaster: LiveBroadcaster,
    private readonly stateStoreIndicator: StateStoreHealthIndicator,
    private readonly liveIndicator: LiveTransportHealthIndicator,
    private readonly databaseIndicator: DatabaseHealthIndicator,
    @Optional() private readonly subscriberIndicator?: RedisSubscriberHealthIndicator,
  ) {}

  private readonly logger = new Logger('ReflexBridge');
  /** The failing checks of the last run, as logged (`''`: none). */
  private lastFailing = '';

  /** The checks under way: requests that arrive meanwhile share their answer. */
  private running: Promise<{ httpStatus: number; body: ReflexHealthBody }> | undefined;

  /** The last run's answer and when it came (`performance.now()`), reused for `reflexRoutes.checkIntervalMs`. */
  private last?: { at: number; answer: { httpStatus: number; body: ReflexHealthBody } };

  /**
   * Runs every check; `httpStatus` is 200, or 503 when one failed. Never throws. Calls made while a run is under way
   * share its answer, and so do calls within `reflexRoutes.checkIntervalMs` after it: `/_health` is public, and each
   * run costs a round trip to every store it checks (a `SELECT 1` on the app's database pool, a Redis read), so a
   * flood of requests, even one at a time, must not become a flood of queries.
   */
  check(): Promise<{ httpStatus: number; body: ReflexHealthBody }> {
    if (this.running) return this.running;
    const last = this.last;
    if (last && performance.now() - last.at < this.options.reflexRoutes.checkIntervalMs) return Promise.resolve(last.answer);
    const run = this.runChecks().then((answer) => {
      this.last = { at: performance.now(), answer };
      return answer;
    }).finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }

  private async runChecks(): Promise<{ httpStatus: number; body: ReflexHealthBody }> {
    const checks = this.checks();
    let result: HealthCheckResult;
    try {
      result = await this.terminus.check(checks.map((check) => check.run));
    } catch (error) {
      // Terminus answers a failed check with a 503 exception carrying the whole result.
      if (!(error instanceof ServiceUnavailableException)) throw error;
      result = error.getResponse() as HealthCheckResult;
    }
    const body: ReflexHealthBody = { status: result.status === 'ok' || result.status === 'degraded' };
    for (const check of checks) {
      const up = result.details?.[check.key]?.status !== 'down' && result.details?.[check.key] !== undefined;
      if (!up) body.status = false;
      if (check.reflexKey) body[check.reflexKey] = (body[check.reflexKey] ?? true) && up;
    }
    this.report(result, checks);
    return { httpStatus: body.status ? 200 : 503, body: orderedLikeReflex(body) };
  }

  /** Logs the failing checks when they differ from the last run's, and their recovery. */
  private report(result: HealthCheckResult, checks: Check[]): void {
    const failing: Record<string, unknown> = {};
    for (const check of checks) {
      const detail = result.details?.[check.key];
      if (detail?.status !== 'up') failing[check.key] = detail ?? { status: 'down', message: 'no result' };
    }
    if (checks.length === 0 && result.status !== 'ok' && result.status !== 'degraded') failing.status = result.status;
    const keys = Object.keys(failing).sort().join(',');
    if (keys === this.lastFailing) return;
    const recovered = keys === '';
    this.lastFailing = keys;
    if (recovered) this.logger.log('The health checks pass again.');
    else this.logger.error(`The health check is failing: ${JSON.stringify(failing)}`);
  }

  private checks(): Check[] {
    const timeout = this.options.reflexRoutes.checkTimeoutMs;
    const checks: Check[] = [];
    if (!(this.store instanceof InMemoryStateStore)) {
      checks.push({ key: 'state_store', reflexKey: this.store instanceof RedisStateStore ? 'redis' : undefined, run: () => this.stateStoreIndicator.isHealthy('state_store', timeout) });
    }
    const transport = this.broadcaster.liveTransport;
    if (!(transport instanceof InProcessTransport)) {
      const reflexKey: ReflexKey = transport instanceof RedisTransport ? 'redis' : transport instanceof PostgresTransport ? 'db' : undefined;
      checks.push({ key: 'live_transport', reflexKey, run: () => this.liveIndicator.isHealthy('live_transport', timeout) });
    }
    if (this.subscriberIndicator?.hasSubscriber()) {
      checks.push({ key: 'redis_subscriber', reflexKey: 'redis', run: () => this.subscriberIndicator!.isHealthy('redis_subscriber', timeout) });
    }
    if (this.databaseIndicator.hasDatabase()) {
      checks.push({ key: 'database', reflexKey: 'db', run: () => this.databaseIndicator.isHealthy('database', timeout) });
    }
    return checks;
  }
}

/** `status`, then `db`, then `redis`, as Reflex builds its body. */
function orderedLikeReflex(body: ReflexHealthBody): ReflexHealthBody {
  const ordered: ReflexHealthBody = { status: body.status };
  if (body.db !== undefined) ordered.db = body.db;
  if (body.redis !== undefined) ordered.redis = body.redis;
  return ordered;
}
