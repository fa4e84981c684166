import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { LiveBroadcaster } from '../live/live-broadcaster.service.js';

/**
 * A `@nestjs/terminus` health indicator for the live transport: up while {@link LiveTransport.isConnected}
 * holds (always for the in-process default; for Redis and Postgres, while started and connected). The module's
 * `/_health` route uses it; an app can add it to its own terminus checks.
 * @publicApi
 */
@Injectable()
export class LiveTransportHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly broadcaster: LiveBroadcaster,
  ) {}

  /** Checks the transport under `key`, at once (it asks no server: it reads the connections' state). */
  isHealthy<const Key extends string>(key: Key): HealthIndicatorResult<Key> {
    const session = this.health.check(key);
    const transport = this.broadcaster.liveTransport;
    return transport.isConnected()
      ? session.up({ transport: transport.constructor.name })
      : session.down({ transport: transport.constructor.name, message: 'not connected' });
  }
}
