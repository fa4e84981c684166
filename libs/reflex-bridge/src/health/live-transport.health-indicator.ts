import { Inject, Injectable, Optional } from '@nestjs/common';
import { HealthIndicatorService, type HealthCheckAttempt } from '@nestjs/terminus';
import { LiveBroadcaster } from '../live/live-broadcaster.service.js';
import type { LiveTransport } from '../live/live-transport.js';
import { RedisConnections } from '../common/redis-connections.js';
import { InFlightProbe } from './in-flight-probe.js';
import { withinCheckDeadline } from './check-deadline.js';

/**
 * A `@nestjs/terminus` health indicator for the live transport: up while {@link LiveTransport.isConnected} holds
 * (always for the in-process default; for Redis and Postgres, while started and connected) and, for a transport with
 * {@link LiveTransport.ping} (Redis, Postgres), its server answers a round trip within the timeout. The connection's
 * state alone stays "connected" while the server is frozen (stopped, swapping, its host suspended), until the
 * transport's own heartbeat notices, 30 s or more later. One ping at a time: while the last one is unanswered,
 * later checks wait on it rather than queue another on the connection. The module's `/_health` route uses it; an
 * app can add it to its own terminus checks.
 * @publicApi
 */
@Injectable()
export class LiveTransportHealthIndicator {
  private probe?: { transport: LiveTransport; probe: InFlightProbe };

  constructor(
    private readonly health: HealthIndicatorService,
    private readonly broadcaster: LiveBroadcaster,
    @Optional() @Inject(RedisConnections) private readonly connections?: RedisConnections | null,
  ) {}

  /** Checks the transport under `key`; down when it is not connected, or its ping fails or takes over `timeoutMs`. */
  isHealthy<const Key extends string>(key: Key, timeoutMs = 2000): HealthCheckAttempt<Key> {
    const transport = this.broadcaster.liveTransport;
    const name = transport.constructor.name;
    return this.health
      .check(key)
      .attempt(async () => {
        if (!transport.isConnected()) throw new Error('not connected');
        const probe = this.probeOf(transport);
        if (probe) await withinCheckDeadline(probe.run(), timeoutMs, name, this.connections);
        return { transport: name };
      });
  }

  /** The transport's one-at-a-time ping, or undefined when it has none. */
  private probeOf(transport: LiveTransport): InFlightProbe | undefined {
    if (!transport.ping) return undefined;
    if (this.probe?.transport !== transport) this.probe = { transport, probe: new InFlightProbe(() => transport.ping!()) };
    return this.probe.probe;
  }
}
