import { Inject, Injectable } from '@nestjs/common';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';

/** One metric of the bridge as prom-client's `getMetricsAsJSON()` gives it. */
export interface BridgeMetricJson {
  name: string;
  help: string;
  type: string;
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

interface JsonRegistry {
  getMetricsAsJSON(): Promise<BridgeMetricJson[]> | BridgeMetricJson[];
}

/**
 * The bridge's own metrics (`reflex_bridge_*`) from the `metrics.registry` prom-client registry, for the
 * devtools page: empty without a registry.
 */
@Injectable()
export class DevtoolsHistograms {
  constructor(@Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions) {}

  /** The bridge's metrics, or `[]` without a registry. */
  async read(): Promise<BridgeMetricJson[]> {
    const registry = this.options.metrics?.registry as Partial<JsonRegistry> | undefined;
    if (!registry || typeof registry.getMetricsAsJSON !== 'function') return [];
    const metrics = await registry.getMetricsAsJSON();
    return metrics.filter((metric) => metric.name.startsWith('reflex_bridge_'));
  }
}
