import { describe, expect, it } from '@jest/globals';
import type { HttpAdapterHost } from '@nestjs/core';
import { resolveOptions } from '../reflex-bridge.options.js';
import { MetricsRoute } from './metrics.route.js';

type Handler = (req: unknown, res: { socket: object; req: object; statusCode: number; headers: Record<string, string>; setHeader(name: string, value: string): void; end(body?: string): void; body?: string }) => Promise<void>;

function adapterHost(routes: Map<string, Handler>): HttpAdapterHost {
  return { httpAdapter: { get: (path: string, handler: Handler) => routes.set(path, handler) } } as unknown as HttpAdapterHost;
}

/** A response being written (it has its socket): not a pipelined one waiting for its turn; its request sent no body. */
function response() {
  return {
    socket: {},
    req: { complete: true, headers: {} },
    statusCode: 0,
    headers: {} as Record<string, string>,
    body: undefined as string | undefined,
    setHeader(name: string, value: string) {
      this.headers[name.toLowerCase()] = value;
    },
    end(body?: string) {
      this.body = body;
    },
  };
}

describe('metrics.path', () => {
  const registry = { registerMetric: () => undefined, metrics: async () => 'reflex_bridge_events_total{tier="none"} 3\n', contentType: 'text/plain; version=0.0.4; charset=utf-8' };

  it('serves the registry in the Prometheus text format', async () => {
    const routes = new Map<string, Handler>();
    new MetricsRoute(resolveOptions({ metrics: { registry, path: '/metrics' } }), adapterHost(routes)).onModuleInit();
    const res = response();
    await routes.get('/metrics')!({}, res);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('version=0.0.4');
    expect(res.body).toContain('reflex_bridge_events_total');
  });

  it('answers a structured 503 whatever a failing collection throws (not an Error, null, a throwing getter)', async () => {
    const hostile = { get message(): string { throw new Error('getter'); } };
    for (const thrown of [undefined, null, 'a string', hostile]) {
      const failing = {
        ...registry,
        metrics: async () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- what a collector may throw, on purpose
          throw thrown;
        },
      };
      const routes = new Map<string, Handler>();
      new MetricsRoute(resolveOptions({ metrics: { registry: failing, path: '/metrics' } }), adapterHost(routes)).onModuleInit();
      const res = response();
      // Before: reading `.message` of what was thrown threw in the catch, and the rejection went to Express's final
      // handler (a 500 page with the stack outside production).
      await routes.get('/metrics')!({}, res);
      expect(res.statusCode).toBe(503);
      expect(JSON.parse(res.body!)).toMatchObject({ code: 'metrics_unavailable' });
    }
  });

  it('logs a failing collection once until one succeeds again, not once per scrape: the route is open to anyone who reaches it', async () => {
    let failing = true;
    const flaky = { ...registry, metrics: async () => (failing ? Promise.reject(new Error('collector broke')) : registry.metrics()) };
    const routes = new Map<string, Handler>();
    const route = new MetricsRoute(resolveOptions({ metrics: { registry: flaky, path: '/metrics' } }), adapterHost(routes));
    const lines: string[] = [];
    (route as unknown as { logger: { warn(message: string): void } }).logger = { warn: (message) => lines.push(message) };
    route.onModuleInit();
    for (let scrape = 0; scrape < 100; scrape++) {
      const res = response();
      await routes.get('/metrics')!({}, res);
      expect(res.statusCode).toBe(503);
    }
    // Before: 100 lines, one per scrape (a client looping on the route wrote the log as fast as it asked).
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('collector broke');
    failing = false;
    for (let scrape = 0; scrape < 2; scrape++) await routes.get('/metrics')!({}, response());
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain('100');
  });

  it('registers nothing without a path', () => {
    const routes = new Map<string, Handler>();
    new MetricsRoute(resolveOptions({ metrics: { registry } }), adapterHost(routes)).onModuleInit();
    expect(routes.size).toBe(0);
  });

  it('refuses a path without a registry, or an invalid path, naming the field', () => {
    expect(() => resolveOptions({ metrics: { path: '/metrics' } })).toThrow(/metrics\.path/);
    expect(() => resolveOptions({ metrics: { registry, path: 'metrics' } })).toThrow(/metrics\.path/);
  });
});
