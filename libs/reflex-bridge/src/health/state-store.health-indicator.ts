import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthCheckAttempt } from '@nestjs/terminus';
import { StateStore } from '../state/store/state-store.js';

/** A token no client can hold (client tokens are UUIDs): the read finds nothing and changes nothing. */
const PROBE_TOKEN = 'reflex-bridge-health-probe';

/**
 * A `@nestjs/terminus` health indicator for the module's {@link StateStore}: up when the store answers a read
 * within the timeout (Redis reachable for a `RedisStateStore`). The module's `/_health` route uses it; an app can
 * add it to its own terminus checks.
 * @example
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.stateStore.isHealthy('state_store')]); }
 * ```
 * @publicApi
 */
@Injectable()
export class StateStoreHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly store: StateStore,
  ) {}

  /** Checks the store under `key`; down after `timeoutMs` without an answer, or when the read fails. */
  isHealthy<const Key extends string>(key: Key, timeoutMs = 2000): HealthCheckAttempt<Key> {
    return this.health
      .check(key)
      .attempt(async () => {
        await this.store.read(PROBE_TOKEN);
      })
      .withTimeout(timeoutMs);
  }
}
