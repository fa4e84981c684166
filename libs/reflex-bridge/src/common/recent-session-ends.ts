import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { RedisConnections } from './redis-connections.js';
import { SessionEndings, type SessionEnd } from './session-endings.js';
import { logText } from './log-text.js';

/** The Redis sorted set of the latest session ends (member: session id, score: Redis's clock in ms). */
const KEY = 'rx:session-ends';

/**
 * How long an end stays in the record. A worker whose subscriber was cut off for longer (its connection is
 * replaced within seconds once silent, see `RedisConnections`) misses the older ends for good; their sessions'
 * snapshots are dropped anyway (the event cache drops its local copies), only their sockets wait for their next event.
 */
const WINDOW_MS = 60_000;

/** How many ends the record holds at most (about 50 bytes each in Redis): the oldest go first. */
const MAX_ENDS = 1_000;

/**
 * Adds one end (ARGV[1]: session id) and trims the record to the window (ARGV[2]) and the cap (ARGV[3]), timed by
 * Redis's clock, so that the workers' clocks need not agree.
 */
const RECORD_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[3]) - 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/** The session ids ended within the window (ARGV[1]), oldest first. */
const READ_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')`;

/**
 * A capped, expiring record in Redis of the sessions the workers ended lately (logouts, `session.destroy()`,
 * regenerations), so that a worker that missed their "session ended" message can catch up. That message goes over
 * Redis pub/sub, at most once: a worker whose subscriber connection was cut off meanwhile never hears it, and kept
 * the session's sockets logged in (until their next event) and a save of the session it may have put back into the
 * store. When its subscriber is back, it reads the record and reports each end it had not heard to
 * {@link SessionEndings} as another worker's, which then acts as on a live one. Only with `redisUrl` (or
 * `redisCluster`); one write per logout, one read per return of the subscriber.
 */
@Injectable()
export class RecentSessionEnds {
  private readonly logger = new Logger('ReflexBridge');

  constructor(
    private readonly endings: SessionEndings,
    @Optional() @Inject(RedisConnections) private readonly connections?: RedisConnections | null,
  ) {
    if (!connections) return;
    // In the connections stage: the logout does not wait for this write.
    endings.subscribe('connections', (end) => this.record(end));
    connections.onSubscriberBack(() => void this.replay());
  }

  /** An end this worker saw in its own session store (the one it tells the others of) goes into the record. */
  private async record(end: SessionEnd): Promise<void> {
    if (end.remote || end.reason !== 'logout' || !this.connections) return;
    await this.connections.commands
      .eval(RECORD_SCRIPT, { keys: [KEY], arguments: [end.sessionId, String(WINDOW_MS), String(MAX_ENDS)] })
      .catch((error: unknown) => this.logger.warn(`Could not record the end of a session in Redis (a worker cut off from Redis meanwhile will not learn of it): ${this.reason(error)}`));
  }

  /** The subscriber is back: the ends recorded meanwhile that this worker did not hear are acted on now. */
  private async replay(): Promise<void> {
    let ended: unknown;
    try {
      // The command connection was cut off too, as a rule, and may come back after the subscriber.
      await this.connections!.ready();
      ended = await this.connections!.commands.eval(READ_SCRIPT, { keys: [KEY], arguments: [String(WINDOW_MS)] });
    } catch (error) {
      this.logger.warn(`Could not read the sessions ended while this worker's Redis subscriber was cut off: ${this.reason(error)}`);
      return;
    }
    if (!Array.isArray(ended)) return;
    // One at a time: a long gap must not re-authenticate every socket of a thousand sessions at once.
    for (const sessionId of ended.slice(-MAX_ENDS)) {
      // Mark 0: any end reported on this worker so far (heard live, or its own), which needs nothing more.
      if (typeof sessionId !== 'string' || sessionId === '' || this.endings.endedSince(sessionId, 0)) continue;
      await this.endings.report({ sessionId, reason: 'logout', remote: true });
    }
  }

  private reason(error: unknown): string {
    return logText((error as Error | undefined)?.message ?? String(error), 500);
  }
}
