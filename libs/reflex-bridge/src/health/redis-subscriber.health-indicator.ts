import { Inject, Injectable, Optional } from '@nestjs/common';
import { HealthIndicatorService, type HealthCheckAttempt } from '@nestjs/terminus';
import { randomUUID } from 'node:crypto';
import { RedisConnections } from '../common/redis-connections.js';

/**
 * A `@nestjs/terminus` health indicator for the worker's shared Redis subscriber connection (the one the Socket.IO
 * Redis adapter, the live transport and the session watcher subscribe on): up when a message this worker publishes
 * on a channel of its own comes back on that connection within the timeout. A subscriber whose path drops packets
 * (a NAT or firewall that forgot its idle flow, a half-open connection) stays "connected" and "ready", and Redis
 * still answers the command connection, so every other check passed while the worker heard no broadcast, live
 * update or session end: a load balancer kept sending users to it. One message at a time: while the last PUBLISH is
 * unanswered (a frozen Redis), a check fails without sending another. Only with the module's own connections
 * (`redisUrl`) on one Redis; on a Redis Cluster {@link hasSubscriber} is false.
 */
@Injectable()
export class RedisSubscriberHealthIndicator {
  /** This worker's probe channel: another worker's probes are not heard here. */
  private readonly channel = `rx:health:${randomUUID()}`;
  private subscribed?: Promise<void>;
  /** The probe messages sent and not heard yet, each with what to call when it comes back. */
  private readonly waiting = new Map<string, () => void>();
  private publishing = false;

  constructor(
    private readonly health: HealthIndicatorService,
    @Optional() @Inject(RedisConnections) private readonly connections?: RedisConnections | null,
  ) {}

  /** Whether the worker has a subscriber connection this indicator checks. */
  hasSubscriber(): boolean {
    return !!this.connections && !this.connections.isCluster;
  }

  /** Checks the subscriber under `key`; down when its probe message has not come back within `timeoutMs`. */
  isHealthy<const Key extends string>(key: Key, timeoutMs = 2000): HealthCheckAttempt<Key> {
    return this.health
      .check(key)
      .attempt(() => this.roundTrip(timeoutMs))
      .withTimeout(timeoutMs);
  }

  private readonly onMessage = (message: string): void => {
    this.waiting.get(message)?.();
  };

  /** Publishes one probe message and waits for it on the subscriber, at most `timeoutMs`. */
  private async roundTrip(timeoutMs: number): Promise<void> {
    const connections = this.connections;
    if (!connections) throw new Error('no Redis connections');
    const nonce = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const heard = new Promise<void>((resolve, reject) => {
      this.waiting.set(nonce, resolve);
      timer = setTimeout(() => reject(new Error(`the subscriber did not receive this worker's message within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      if (!connections.subscriber.isReady) throw new Error('the subscriber connection is not ready');
      // Subscribed once; after a reconnection node-redis subscribes again by itself.
      this.subscribed ??= connections.subscriber.subscribe(this.channel, this.onMessage).catch((error: unknown) => {
        this.subscribed = undefined;
        throw error;
      });
      await Promise.race([this.subscribed, heard]);
      // A frozen Redis holds the last PUBLISH: do not queue one more per check behind it.
      if (this.publishing) throw new Error('Redis has not answered the last probe PUBLISH');
      this.publishing = true;
      const published = connections.commands.publish(this.channel, nonce);
      const done = () => (this.publishing = false);
      published.then(done, done);
      // A PUBLISH refused at once (Redis down, the command connection failing fast) fails the check at once.
      await Promise.all([published, heard]);
    } finally {
      clearTimeout(timer);
      this.waiting.delete(nonce);
      heard.catch(() => undefined);
    }
  }
}
