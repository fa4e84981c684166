import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import type { PromExpositionLike } from './metrics.options.js';

/** Prometheus' text exposition format, when the registry does not say. */
const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Serves `metrics.registry` in the Prometheus text format at `metrics.path` (`GET`), when both are set: the
 * ready-made scrape route. Apps that want it behind their own guard serve `await registry.metrics()` from a
 * controller instead.
 */
@Injectable()
export class MetricsRoute implements OnModuleInit {
  private readonly logger = new Logger('ReflexBridgeMetrics');

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    const metrics = this.options.metrics;
    if (!adapter || !metrics?.path || !metrics.registry) return;
    const registry = metrics.registry as unknown as PromExpositionLike;
    adapter.get(metrics.path, async (_req: IncomingMessage, res: ServerResponse) => {
      try {
        const body = await registry.metrics();
        res.statusCode = 200;
        res.setHeader('Content-Type', registry.contentType ?? PROMETHEUS_TEXT);
        res.setHeader('Cache-Control', 'no-store');
        res.end(body);
      } catch (error) {
        this.logger.warn(`Collecting the metrics failed: ${(error as Error).message}`);
        res.statusCode = 500;
        res.end();
      }
    });
  }
}
