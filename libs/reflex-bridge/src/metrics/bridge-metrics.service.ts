import { Inject, Injectable, Logger, Optional, type OnModuleInit } from '@nestjs/common';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { EventTimer } from './event-timer.js';
import type { FastAuthLookup } from './event-trace.js';
import { tryCatch, type MaybePromise } from '../common/maybe-promise.js';
import { EventRecorder } from './event-recorder.js';
import { StateStore } from '../state/store/state-store.js';
import { InMemoryStateStore } from '../state/store/in-memory-state.store.js';
import { RedisStateStore } from '../state/store/redis-state.store.js';
import type * as PromClient from 'prom-client';

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
  /** The devtools, when on: each finished event goes to them. */
  private readonly recorder?: EventRecorder;
  /** Whether events are timed at all: metrics or devtools on. */
  private readonly timed: boolean;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    @Optional() recorder?: EventRecorder,
    @Optional() private readonly stateStore?: StateStore,
  ) {
    const metrics = options.metrics;
    if (metrics?.log === true) this.logger = new Logger(metrics.logger);
    if (recorder?.enabled) this.recorder = recorder;
    this.timed = options.metrics !== undefined || this.recorder !== undefined;
  }

  async onModuleInit(): Promise<void> {
    const registry = this.options.metrics?.registry;
    if (!registry) return;
    // prom-client is an optional peer dependency: load it only when a registry is configured.
    let prom: typeof PromClient;
    try {
      prom = await import('prom-client');
    } catch (error) {
      throw new Error('metrics.registry needs the "prom-client" package (15.x): npm install prom-client', { cause: error });
    }
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
    const dropped = this.droppedStates();
    if (dropped) {
      // Read at each scrape from the store's own count: dropping costs the store nothing extra.
      let counted = 0;
      new prom.Counter({
        name: 'reflex_bridge_states_dropped_total',
        help: 'Client states the state store dropped to stay within its memory limit (maxInMemoryStateBytes, or redisMemoryLimitBytes with Redis)',
        registers,
        collect() {
          const now = dropped();
          if (now > counted) this.inc(now - counted);
          counted = now;
        },
      });
    }
  }

  /**
   * How many states the store dropped over its memory limit, for the stores that have one: a worker's own drops (on
   * Redis, those of the sweeps this worker ran).
   */
  private droppedStates(): (() => number) | undefined {
    const store = this.stateStore;
    if (store instanceof InMemoryStateStore) return () => store.droppedOverBudget;
    if (store instanceof RedisStateStore) return () => store.droppedOverMemoryLimit;
    return undefined;
  }

  /** True when anything is recorded (metrics or devtools); callers skip timing work otherwise. */
  get enabled(): boolean {
    return this.timed;
  }

  /** A timer for one event (with a devtools trace when devtools are on), or `undefined` when both are off. */
  start(handlerName: string): EventTimer | undefined {
    return this.timed ? new EventTimer(handlerName, this.recorder !== undefined) : undefined;
  }

  /** Records a fast-auth cache lookup. */
  cacheLookup(result: FastAuthLookup): void {
    this.cache?.inc({ result });
  }

  /** Logs and observes a finished event. */
  finish(timer: EventTimer | undefined): void {
    if (!timer || timer.finished) return;
    timer.finished = true;
    timer.add('total', timer.elapsed());
    if (timer.trace) this.recorder?.record(timer);
    this.events?.inc({ tier: timer.tier });
    for (const [phase, ms] of timer.phases) {
      this.logger?.debug(`phase=${phase} elapsed_ms=${ms.toFixed(3)} handler=${timer.handlerName} tier=${timer.tier}`);
      this.duration?.observe({ tier: timer.tier, phase }, ms / 1000);
    }
  }

  /**
   * Runs a traced event (devtools on): notes its token and path, and when it fails, its error; an event that
   * failed before it finished (refused by its tier) is finished here, so devtools see refusals too.
   */
  traced(timer: EventTimer, token: string, path: unknown, work: () => MaybePromise<void>): MaybePromise<void> {
    const trace = timer.trace!;
    trace.token = token;
    trace.notePath(path);
    return tryCatch(work, (error) => {
      this.fail(timer, error);
      throw error;
    });
  }

  /** An event that failed: its error goes into its trace, and the event is finished if it was not yet. */
  fail(timer: EventTimer | undefined, error: unknown): void {
    if (!timer) return;
    if (timer.trace) timer.trace.fail(error);
    if (!timer.finished) this.finish(timer);
    else if (timer.trace) this.recorder?.record(timer);
  }
}
