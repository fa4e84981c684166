import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import type { PromExpositionLike } from './metrics.options.js';
import { whenAnswerable } from '../common/pipelined-turn.js';
import { OutageLog } from '../common/outage-log.js';
import { closeIfBodyUnread } from '../security/lingering-close.js';
import { addressKeyingOf, type AddressKeying } from '../security/client-address.js';
import { logText } from '../common/log-text.js';

/** The longest reason of a failed collection logged. */
const MAX_LOGGED_REASON = 2_000;

/**
 * What a failed collection threw, to log: a collector may throw anything (`undefined`, a string, an object whose
 * `message` getter throws), and reading `.message` of it threw in the catch, sending the scrape to Express's final
 * handler (a 500 page, with the stack outside production) instead of the structured 503.
 */
function reasonOf(error: unknown): unknown {
  try {
    return error instanceof Error ? error.message : error;
  } catch {
    return 'an error whose message could not be read';
  }
}

/** Prometheus' text exposition format, when the registry does not say. */
const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Serves `metrics.registry` in the Prometheus text format at `metrics.path` (`GET`), when both are set: the
 * ready-made scrape route. Apps that want it behind their own guard serve `await registry.metrics()` from a
 * controller instead.
 *
 * A collection costs milliseconds of the event loop (prom-client's default metrics read the process), so scrapes
 * that arrive while one is under way share its answer, and a pipelined scrape is collected only when its answer's
 * turn comes, after a turn of the event loop: a client that pipelined a thousand in one write had them collected at
 * once, holding every other client for seconds.
 */
@Injectable()
export class MetricsRoute implements OnModuleInit {
  private readonly logger = new Logger('ReflexBridgeMetrics');
  /**
   * Failed collections, logged when they start failing and when one succeeds again: the route is open to anyone who
   * reaches it, and a line per failed scrape let a client looping on it write the log as fast as it asked.
   */
  private readonly outage = new OutageLog({ warn: (message: string) => this.logger.warn(message) }, 'The metrics registry');
  /** The collection under way, which scrapes arriving meanwhile share. */
  private collecting: Promise<string> | undefined;

  /** How a request's client address is keyed, for the lingering close's share. */
  private readonly keying: AddressKeying;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly adapterHost: HttpAdapterHost,
  ) {
    this.keying = addressKeyingOf(options);
  }

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    const metrics = this.options.metrics;
    if (!adapter || !metrics?.path || !metrics.registry) return;
    const registry = metrics.registry as unknown as PromExpositionLike;
    adapter.get(metrics.path, async (req: IncomingMessage, res: ServerResponse) => {
      // Answered without reading a body: a scrape that sends one anyway is not read on (see closeIfBodyUnread).
      closeIfBodyUnread(res, this.keying);
      const turn = whenAnswerable(req, res);
      if (turn !== true) {
        if (!(await turn)) return;
        // The turns of a client's pipelined scrapes follow each other without a pause for I/O: other clients' requests
        // are read in between.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      try {
        const body = await this.collect(registry);
        this.outage.succeeded();
        res.statusCode = 200;
        res.setHeader('Content-Type', registry.contentType ?? PROMETHEUS_TEXT);
        res.setHeader('Cache-Control', 'no-store');
        res.setHeader('X-Content-Type-Options', 'nosniff');
        res.end(body);
      } catch (error) {
        this.outage.failed(logText(reasonOf(error), MAX_LOGGED_REASON));
        // The scrape fails (Prometheus marks the target down) with a structured answer; what failed stays in the log,
        // not in an answer to whoever reached the route.
        res.statusCode = 503;
        res.setHeader('Content-Type', 'application/json');
        res.setHeader('Cache-Control', 'no-store');
        res.setHeader('X-Content-Type-Options', 'nosniff');
        res.end(JSON.stringify({ code: 'metrics_unavailable', message: 'Collecting the metrics failed; see the server log.' }));
      }
    });
  }

  /** The registry's exposition, shared with the scrapes that ask while it is collected. */
  private collect(registry: PromExpositionLike): Promise<string> {
    if (this.collecting) return this.collecting;
    const run = Promise.resolve()
      .then(() => registry.metrics())
      .finally(() => {
        if (this.collecting === run) this.collecting = undefined;
      });
    this.collecting = run;
    return run;
  }
}
