import type { RedisConnections } from '../common/redis-connections.js';
import { DEADLINE_PASSED, withinDeadline } from '../common/deadline.js';

/**
 * `probe`, or, after `timeoutMs`, a rejection saying what did not answer: on the module's Redis Cluster connections,
 * the masters whose health-check PING is still unanswered (`host:port`), else `what`. The health indicators bound
 * their probes with this rather than terminus's `withTimeout`, whose message ("timeout of 500ms exceeded") replaces
 * any other once its time has run out, so the log line of a failing check never named the frozen master the probe
 * knew of.
 */
export async function withinCheckDeadline<T>(probe: Promise<T>, timeoutMs: number, what: string, connections?: RedisConnections | null): Promise<T> {
  try {
    return await withinDeadline(probe, timeoutMs);
  } catch (error) {
    if (error !== DEADLINE_PASSED) throw error;
    const masters = connections?.clusterCommands?.unansweredMasters() ?? [];
    if (masters.length === 0) throw new Error(`${what} did not answer within ${timeoutMs} ms`, { cause: error });
    throw new Error(`the Redis Cluster master${masters.length > 1 ? 's' : ''} ${masters.join(', ')} did not answer a PING within ${timeoutMs} ms`, { cause: error });
  }
}
