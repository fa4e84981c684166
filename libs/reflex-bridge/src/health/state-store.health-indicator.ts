import { Inject, Injectable, Optional } from '@nestjs/common';
import { HealthIndicatorService, type HealthCheckAttempt } from '@nestjs/terminus';
import { StateStore } from '../state/store/state-store.js';
import { RedisStateStore } from '../state/store/redis-state.store.js';
import { RedisConnections } from '../common/redis-connections.js';
import { InFlightProbe } from './in-flight-probe.js';
import { withinCheckDeadline } from './check-deadline.js';

/** A token no client can hold (client tokens are UUIDs): the read finds nothing and changes nothing. */
const PROBE_TOKEN = 'reflex-bridge-health-probe';

/**
 * A `@nestjs/terminus` health indicator for the module's {@link StateStore}: up when the store answers a read
 * within the timeout (Redis reachable for a `RedisStateStore`). One read at a time: while the last one is unanswered
 * (a frozen Redis), later checks wait on it rather than queue another. The module's `/_health` route uses it; an app
 * can add it to its own terminus checks.
 * @example
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.stateStore.isHealthy('state_store')]); }
 * ```
 * @publicApi
 */
@Injectable()
export class StateStoreHealthIndicator {
  private readonly probe: InFlightProbe;

  constructor(
    private readonly health: HealthIndicatorService,
    private readonly store: StateStore,
    @Optional() @Inject(RedisConnections) private readonly connections?: RedisConnections | null,
  ) {
    // A RedisStateStore's own reads give up after its commandTimeoutMs while Redis still holds them: its probe settles
    // only when Redis answers, so that one probe, not one per commandTimeoutMs, waits through a freeze.
    this.probe = new InFlightProbe(() => (store instanceof RedisStateStore ? store.probe(PROBE_TOKEN) : store.read(PROBE_TOKEN)));
  }

  /**
   * Checks the store under `key`; down after `timeoutMs` without an answer (naming the Redis Cluster masters that did
   * not answer, on the module's cluster connections), or when the read fails.
   */
  isHealthy<const Key extends string>(key: Key, timeoutMs = 2000): HealthCheckAttempt<Key> {
    return this.health.check(key).attempt(() => withinCheckDeadline(this.probe.run(), timeoutMs, 'the state store', this.connections));
  }
}
