import { Logger, type Provider } from '@nestjs/common';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { ClusterLink } from './cluster-link.js';
import { RedisConnections } from '../common/redis-connections.js';

/** DI token of the {@link ClusterLink}: present (connected) only with `redisUrl`. */
export const CLUSTER_LINK = Symbol('ReflexBridgeClusterLink');

/** The cluster link, over the worker's shared Redis connections (`redisUrl`). */
export const clusterLinkProvider: Provider = {
  provide: CLUSTER_LINK,
  useFactory: (options: ResolvedReflexBridgeOptions, connections: RedisConnections | null) =>
    connections ? ClusterLink.create(connections, options.stateTtlSeconds, new Logger('ReflexBridge')) : undefined,
  inject: [RESOLVED_OPTIONS, RedisConnections],
};
