import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { EventTimer } from './event-timer.js';

interface HistogramLike {
  observe(labels: Record<string, string>, value: number): void;
}
interface CounterLike {
  inc(labels: Record<string, string>, value?: number): void;
}

/**
 * Bridge timing: one debug line per phase of each event (`phase=<name> elapsed_ms=<x> handler=<name>
 * tier=<tier>`) through a Nest Logger, and, beyond the Python original, prom-client histograms and counters
 * on a registry the app passes in. Costs nothing when `metrics` is off.
 */
@Injectable()
export class BridgeMetrics implements OnModuleInit {
  private readonly logger?: Logger;
  private duration?: HistogramLike;
  private events?: CounterLike;
  private cache?: CounterLike;

  constructor(@Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions) {
    const metrics = options.metrics;
    if (metrics && metrics.log) this.logger = new Logger(metrics.logger);
  }

  async onModuleInit(): Promise<void> {
    const registry = this.options.metrics?.registry;
    if (!registry) return;
    // prom-client is an optional peer dependency: load it only when a registry is configured.
    const prom = await import('prom-client');
    const registers = [registry as unknown as InstanceType<typeof prom.Registry>];
    this.duration = new prom.Histogram({
      name: 'reflex_bridge_event_duration_seconds',
      help: 'Time ReflexBridge events spend per bridge phase',
      labelNames: ['tier', 'phase'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.events = new prom.Counter({ name: 'reflex_bridge_events_total', help: 'ReflexBridge events handled, by tier', labelNames: ['tier'], registers });
    this.cache = new prom.Counter({ name: 'reflex_bridge_event_cache_total', help: 'Event cache lookups by fast auth, by result', labelNames: ['result'], registers });
  }

  /** True when anything is recorded; callers skip timing work otherwise. */
  get enabled(): boolean {
    return this.options.metrics !== undefined;
  }

  /** A timer for one event, or `undefined` when metrics are off. */
  start(handlerName: string): EventTimer | undefined {
    return this.enabled ? new EventTimer(handlerName) : undefined;
  }

  /** Records a fast-auth cache lookup. */
  cacheLookup(hit: boolean): void {
    this.cache?.inc({ result: hit ? 'hit' : 'miss' });
  }

  /** Logs and observes a finished event. */
  finish(timer: EventTimer | undefined): void {
    if (!timer) return;
    timer.add('total', timer.elapsed());
    this.events?.inc({ tier: timer.tier });
    for (const [phase, ms] of timer.phases) {
      this.logger?.debug(`phase=${phase} elapsed_ms=${ms.toFixed(3)} handler=${timer.handlerName} tier=${timer.tier}`);
      this.duration?.observe({ tier: timer.tier, phase }, ms / 1000);
    }
  }
}
