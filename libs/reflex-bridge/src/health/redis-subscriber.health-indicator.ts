import { Inject, Injectable, Optional } from '@nestjs/common';
import { HealthIndicatorService, type HealthCheckAttempt } from '@nestjs/terminus';
import { randomUUID } from 'node:crypto';
import { RedisConnections } from '../common/redis-connections.js';

/** One probe channel: its subscription, and whether its last PUBLISH is unanswered. */
interface ProbeChannel {
  readonly channel: string;
  /** What the channel's probes go through (a cluster's sharded channel: `SSUBSCRIBE` / `SPUBLISH`). */
  readonly sharded: boolean;
  subscribed?: Promise<void>;
  publishing: boolean;
}

/**
 * A `@nestjs/terminus` health indicator for the worker's shared Redis subscriber connection (the one the Socket.IO
 * Redis adapter, the live transport and the session watcher subscribe on): up when a message this worker publishes
 * on a channel of its own comes back on that connection within the timeout. A subscriber whose path drops packets
 * (a NAT or firewall that forgot its idle flow, a half-open connection) stays "connected" and "ready", and Redis
 * still answers the command connection, so every other check passed while the worker heard no broadcast, live
 * update or session end: a load balancer kept sending users to it. One message at a time per channel: while its last
 * PUBLISH is unanswered (a frozen Redis), a check fails without sending another.
 *
 * On a Redis Cluster the subscriber is one connection per master for sharded channels (the Socket.IO adapter's, the
 * state locks' release channels) and one for classic channels (live updates): a check sends a classic message, and a
 * sharded one on a channel of each master's slots (see `RedisClusterClient.channelPerMaster`), so a worker that hears
 * nothing from one master is down, naming it. Only with the module's own connections (`redisUrl` or `redisCluster`).
 */
@Injectable()
export class RedisSubscriberHealthIndicator {
  /** This worker's probe channels start with this: another worker's probes are not heard here. */
  private readonly prefix = `rx:health:${randomUUID()}`;
  /** The classic channel, and on a cluster one sharded channel per master, by channel name. */
  private readonly channels = new Map<string, ProbeChannel>();
  /** The probe messages sent and not heard yet, each with what to call when it comes back. */
  private readonly waiting = new Map<string, () => void>();

  constructor(
    private readonly health: HealthIndicatorService,
    @Optional() @Inject(RedisConnections) private readonly connections?: RedisConnections | null,
  ) {}

  /** Whether the worker has a subscriber connection this indicator checks. */
  hasSubscriber(): boolean {
    return !!this.connections;
  }

  /** Checks the subscriber under `key`; down when a probe message has not come back within `timeoutMs`. */
  isHealthy<const Key extends string>(key: Key, timeoutMs = 2000): HealthCheckAttempt<Key> {
    // Each round trip gives up after `timeoutMs` by itself, naming its master: terminus's `withTimeout` would replace
    // that message with its own "timeout of … exceeded" once its time ran out.
    return this.health.check(key).attempt(() => this.roundTrips(timeoutMs));
  }

  private readonly onMessage = (message: string): void => {
    this.waiting.get(message)?.();
  };

  /** One probe on the classic channel, and on a cluster one on each master's sharded channel, at once. */
  private async roundTrips(timeoutMs: number): Promise<void> {
    const connections = this.connections;
    if (!connections) throw new Error('no Redis connections');
    const probes: { probe: ProbeChannel; master?: string }[] = [{ probe: this.channel(this.prefix, false) }];
    const cluster = connections.clusterCommands;
    if (cluster) {
      const perMaster = cluster.channelPerMaster(`${this.prefix}:`);
      if (perMaster.size === 0) throw new Error('no Redis Cluster master is known');
      const current = new Set(perMaster.values());
      for (const [channel, probe] of this.channels) {
        // Its slot moved to another master, or its master left the layout: a new channel stands for that master.
        if (probe.sharded && !current.has(channel)) {
          this.channels.delete(channel);
          if (probe.subscribed) connections.clusterSubscriber!.sUnsubscribe(channel, this.onMessage).catch(() => undefined);
        }
      }
      for (const [master, channel] of perMaster) probes.push({ probe: this.channel(channel, true), master });
    }
    // Every probe's outcome, so the failure names each master that failed, not only the first probe to give up.
    const outcomes = await Promise.allSettled(probes.map(({ probe, master }) => this.roundTrip(probe, timeoutMs, master)));
    const failures = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected').map(({ reason }) => (reason as Error)?.message ?? String(reason));
    if (failures.length > 0) throw new Error(failures.join('; '));
  }

  private channel(channel: string, sharded: boolean): ProbeChannel {
    let probe = this.channels.get(channel);
    if (!probe) this.channels.set(channel, (probe = { channel, sharded, publishing: false }));
    return probe;
  }

  /** Publishes one probe message on `probe` and waits for it on the subscriber, at most `timeoutMs`. */
  private async roundTrip(probe: ProbeChannel, timeoutMs: number, master?: string): Promise<void> {
    const connections = this.connections!;
    const where = master === undefined ? '' : ` from the Redis Cluster master ${master}`;
    const nonce = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const heard = new Promise<void>((resolve, reject) => {
      this.waiting.set(nonce, resolve);
      timer = setTimeout(() => reject(new Error(`the subscriber did not receive this worker's message${where} within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      if (!connections.subscriber.isReady) throw new Error('the subscriber connection is not ready');
      // Subscribed once; after a reconnection node-redis subscribes again by itself.
      probe.subscribed ??= (probe.sharded ? connections.clusterSubscriber!.sSubscribe(probe.channel, this.onMessage) : connections.subscriber.subscribe(probe.channel, this.onMessage)).catch(
        (error: unknown) => {
          probe.subscribed = undefined;
          throw error;
        },
      );
      await Promise.race([probe.subscribed, heard]);
      // A frozen Redis holds the last PUBLISH: do not queue one more per check behind it.
      if (probe.publishing) throw new Error(`Redis has not answered the last probe PUBLISH${where}`);
      probe.publishing = true;
      const published = probe.sharded ? connections.clusterCommands!.sPublish(probe.channel, nonce) : connections.commands.publish(probe.channel, nonce);
      const done = () => (probe.publishing = false);
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
