import { Logger, type Provider } from '@nestjs/common';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { ClusterLink } from './cluster-link.js';

/** DI token of the {@link ClusterLink}: present (connected) only with `redisUrl`. */
export const CLUSTER_LINK = Symbol('ReflexBridgeClusterLink');

/**
 * Connects the cluster link while the module's providers are built: Nest creates gateways before any
 * `onModuleInit`, and the gateway installs the Redis adapter synchronously when its namespace exists.
 */
export const clusterLinkProvider: Provider = {
  provide: CLUSTER_LINK,
  useFactory: (options: ResolvedReflexBridgeOptions) =>
    options.redisUrl ? ClusterLink.connect(options.redisUrl, options.stateTtlSeconds, new Logger('ReflexBridge')) : undefined,
  inject: [RESOLVED_OPTIONS],
};
