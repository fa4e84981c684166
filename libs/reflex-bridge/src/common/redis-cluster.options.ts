import { InvalidOptionError } from '../invalid-option.error.js';
import { assertTimerMs } from './timer-ms.js';

/**
 * A Redis Cluster for everything several workers share (`redisCluster` of the module, beside `redisUrl`), through
 * node-redis's cluster client (`createCluster`).
 *
 * @example
 * ```ts
 * ReflexBridgeModule.forRoot({
 *   redisCluster: {
 *     rootNodes: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000', 'redis://10.0.0.3:7000'],
 *     defaults: { password: process.env.REDIS_PASSWORD, socket: { tls: true } },
 *   },
 * });
 * ```
 * @publicApi
 */
export interface RedisClusterOptions {
  /**
   * URLs of some of the cluster's nodes (`redis://host:port` or `rediss://…`): the client asks the first one it
   * reaches for the cluster's layout and finds every other node from it. Give at least one; three (one per
   * machine) survive the loss of any of them at start-up.
   */
  rootNodes: string[];
  /**
   * node-redis client options applied to every node's connection (`username`, `password`, `socket: { tls, ca,
   * … }`): what the cluster's nodes share, such as ACL credentials and TLS. Per node values in a root URL win.
   * @default undefined
   */
  defaults?: Record<string, unknown>;
  /**
   * Replicas that must confirm a state save (Redis `WAIT`) before it counts as done. With the default, a save
   * acknowledged to the client survives the loss of its master (the replica that confirmed it is the one promoted).
   * A save that is not confirmed within `waitTimeoutMs` (no replica reachable) fails with `outcome_unknown`,
   * like any save whose fate is unknown. `0`: saves are acknowledged without waiting for a replica (faster; a save
   * made just before a master dies may be lost).
   * @default 1
   */
  waitReplicas?: number;
  /** Milliseconds a save waits for `waitReplicas` confirmations. @default 1_000 */
  waitTimeoutMs?: number;
  /**
   * Maps the node addresses the cluster announces (`host:port`) to the ones this process must connect to, for a
   * cluster behind NAT or in containers (node-redis's `nodeAddressMap`).
   * @default undefined (connect to the announced addresses)
   */
  nodeAddressMap?: Record<string, { host: string; port: number }>;
}

/** {@link RedisClusterOptions} with its defaults applied. */
export interface ResolvedRedisClusterOptions {
  rootNodes: string[];
  defaults: Record<string, unknown> | undefined;
  waitReplicas: number;
  waitTimeoutMs: number;
  nodeAddressMap: Record<string, { host: string; port: number }> | undefined;
}

const KNOWN_KEYS = ['rootNodes', 'defaults', 'waitReplicas', 'waitTimeoutMs', 'nodeAddressMap'];

/**
 * Validates the module's `redisCluster` (and that `redisUrl` is not given with it); `undefined` when unset.
 * @throws InvalidOptionError naming the field.
 */
export function resolveRedisClusterOptions(value: RedisClusterOptions | undefined, redisUrl: string | undefined): ResolvedRedisClusterOptions | undefined {
  if (value === undefined) return undefined;
  if (redisUrl !== undefined) {
    throw new InvalidOptionError('redisCluster', 'give either redisUrl (one Redis) or redisCluster (a Redis Cluster), not both');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError('redisCluster', "expected an object such as { rootNodes: ['redis://127.0.0.1:7000'] }");
  }
  for (const key of Object.keys(value)) {
    if (!KNOWN_KEYS.includes(key)) throw new InvalidOptionError(`redisCluster.${key}`, 'unknown option');
  }
  const { rootNodes } = value;
  if (!Array.isArray(rootNodes) || rootNodes.length === 0) {
    throw new InvalidOptionError('redisCluster.rootNodes', "expected a non-empty array of URLs such as ['redis://127.0.0.1:7000']");
  }
  rootNodes.forEach((url, index) => {
    let valid = typeof url === 'string' && /^rediss?:\/\//.test(url);
    if (valid) {
      try {
        valid = new URL(url).hostname !== '';
      } catch {
        valid = false;
      }
    }
    // What was given is not repeated: a node's URL may hold a password, and the error is logged.
    const given = typeof url === 'string' ? 'a string that is not a redis:// or rediss:// URL with a host (not repeated: it may hold a password)' : url === null ? 'null' : typeof url;
    if (!valid) throw new InvalidOptionError(`redisCluster.rootNodes[${index}]`, `expected a URL such as redis://127.0.0.1:7000, got ${given}`);
  });
  const { defaults } = value;
  if (defaults !== undefined && (typeof defaults !== 'object' || defaults === null || Array.isArray(defaults))) {
    throw new InvalidOptionError('redisCluster.defaults', 'expected node-redis client options such as { password, socket: { tls: true } }');
  }
  if (defaults && ('url' in defaults || 'rootNodes' in defaults)) {
    throw new InvalidOptionError('redisCluster.defaults', 'holds options shared by every node: give the nodes in redisCluster.rootNodes');
  }
  const waitReplicas = value.waitReplicas ?? 1;
  if (typeof waitReplicas !== 'number' || !Number.isSafeInteger(waitReplicas) || waitReplicas < 0) {
    throw new InvalidOptionError('redisCluster.waitReplicas', `expected an integer ≥ 0, got ${JSON.stringify(waitReplicas)}`);
  }
  const waitTimeoutMs = value.waitTimeoutMs ?? 1_000;
  if (typeof waitTimeoutMs !== 'number' || !Number.isSafeInteger(waitTimeoutMs) || waitTimeoutMs <= 0) {
    throw new InvalidOptionError('redisCluster.waitTimeoutMs', `expected a positive integer of milliseconds, got ${JSON.stringify(waitTimeoutMs)}`);
  }
  assertTimerMs('redisCluster.waitTimeoutMs', waitTimeoutMs);
  const { nodeAddressMap } = value;
  if (nodeAddressMap !== undefined && (typeof nodeAddressMap !== 'object' || nodeAddressMap === null || Array.isArray(nodeAddressMap))) {
    throw new InvalidOptionError('redisCluster.nodeAddressMap', "expected an object such as { '10.0.0.1:7000': { host: 'redis-1', port: 7000 } }");
  }
  return { rootNodes: [...rootNodes], defaults, waitReplicas, waitTimeoutMs, nodeAddressMap };
}
