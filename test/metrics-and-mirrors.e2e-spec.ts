import { afterEach, describe, expect, it } from '@jest/globals';
import { UseGuards, type CanActivate, Injectable } from '@nestjs/common';
import type { RequestHandler } from 'express';
import { Registry } from 'prom-client';
import { AppState, BridgeTier, EventHandler, ReflexBridgeModule, State, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import type { Server } from 'node:http';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { until } from './support/eventually.js';
import { pipelineAndReadNothing } from './support/pipelining-client.js';
import { RawSocket } from './support/raw-socket.js';

const ROOT = 'reflex___state____state';
const PAGE = `${ROOT}.page_state`;

@Injectable()
class AllowGuard implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

@State()
class PageState extends AppState {
  hits = 0;

  @EventHandler()
  @BridgeTier('none')
  tap(): void {
    this.hits++;
  }

  @EventHandler()
  @BridgeTier('auth_only')
  look(): void {
    this.hits++;
  }

  @EventHandler()
  @UseGuards(AllowGuard)
  act(): void {
    this.hits++;
  }
}

/** Stand-ins for connect-flash, csurf and an i18n middleware: what the mirrors read. */
const requestExtras: RequestHandler = (req, _res, next) => {
  const pending = [{ level: 'info', message: 'Saved.' }];
  Object.assign(req, {
    flash: () => (pending.length ? { [pending[0].level]: [pending.splice(0, 1)[0].message] } : {}),
    csrfToken: () => 'csrf-123',
    language: 'fr',
  });
  next();
};

describe('bridge metrics, AppState mirrors and the lean preset', () => {
  let running: RunningApp | undefined;
  let socket: RawSocket | undefined;
  afterEach(async () => {
    socket?.close();
    await running?.close();
  });

  const start = async (options: ReflexBridgeModuleOptions, logger = new CapturingLogger()) => {
    running = await startApp(
      { imports: [ReflexBridgeModule.forRoot({ ...options, bridge: { authMiddleware: [requestExtras], ...options.bridge } })], providers: [PageState, AllowGuard] },
      undefined,
      logger,
    );
    socket = new RawSocket(running.url);
    await socket.connected();
    await socket.hydrate();
    return socket;
  };

  it('logs one debug line per phase with the handler and tier, and fills prom-client metrics', async () => {
    const logger = new CapturingLogger();
    const registry = new Registry();
    const client = await start({ metrics: { logger: 'shop.performance', registry } }, logger);
    client.send(`${PAGE}.tap`);
    client.send(`${PAGE}.look`);
    client.send(`${PAGE}.act`);
    await client.untilVar(PAGE, 'hits', 3);
    // The total line is logged once the event's response ended, after its delta went out: wait for all three.
    const totals = () => logger.lines.filter((line) => line.context === 'shop.performance' && line.message.startsWith('phase=total')).length;
    await client.until(() => totals() === 3, 20_000, 'three phase=total lines');
    const lines = logger.lines.filter((line) => line.context === 'shop.performance' && line.level === 'debug').map((line) => line.message);
    const phasesOf = (handler: string) =>
      lines.filter((line) => line.includes(`handler=${PAGE}.${handler} `)).map((line) => /phase=(\w+)/.exec(line)![1]);
    expect(phasesOf('tap').sort()).toEqual(['delta', 'emit', 'handler', 'tier', 'total'].sort());
    expect(phasesOf('look').sort()).toEqual(['delta', 'emit', 'handler', 'middleware', 'tier', 'total'].sort());
    expect(phasesOf('act').sort()).toEqual(['delta', 'emit', 'guards', 'handler', 'middleware', 'tier', 'total'].sort());
    for (const line of lines) expect(line).toMatch(/^phase=\w+ elapsed_ms=\d+\.\d{3} handler=\S+ tier=(none|auth_only|full)$/);
    expect(lines.find((line) => line.includes('.act ') && line.startsWith('phase=total'))).toMatch(/tier=full$/);

    const text = await registry.metrics();
    expect(text).toMatch(/reflex_bridge_events_total\{tier="none"\} 1/);
    expect(text).toMatch(/reflex_bridge_events_total\{tier="auth_only"\} 1/);
    expect(text).toMatch(/reflex_bridge_events_total\{tier="full"\} 1/);
    expect(text).toMatch(/reflex_bridge_event_duration_seconds_count\{tier="full",phase="guards"\} 1/);
  });

  it('logs nothing when metrics are off', async () => {
    const logger = new CapturingLogger();
    const client = await start({}, logger);
    client.send(`${PAGE}.act`);
    await client.untilVar(PAGE, 'hits', 1);
    expect(logger.lines.filter((line) => line.message.startsWith('phase='))).toEqual([]);
  });

  it('mirrors flash messages, the CSRF token and the language into AppState by default', async () => {
    const client = await start({});
    client.send(`${PAGE}.act`);
    await client.untilVar(PAGE, 'csrfToken', 'csrf-123');
    expect(client.latest(PAGE, 'flashMessages')).toEqual([{ level: 'info', message: 'Saved.' }]);
    expect(client.latest(PAGE, 'language')).toBe('fr');
    expect(client.latest(PAGE, 'isAuthenticated')).toBe(false);
  });

  it('lean preset: no mirrors and no auth snapshot in the deltas, unless set explicitly', async () => {
    const client = await start({ preset: 'lean' });
    const before = client.updates.length;
    client.send(`${PAGE}.act`);
    await client.untilVar(PAGE, 'hits', 1);
    expect(client.updates.slice(before)).toEqual([{ delta: { [PAGE]: { hits_rx_state_: 1 } } }]);
    await running!.close();
    socket!.close();
    const explicit = await start({ preset: 'lean', bridge: { mirrors: { csrf: true } } });
    explicit.send(`${PAGE}.act`);
    await explicit.untilVar(PAGE, 'csrfToken', 'csrf-123');
    expect(explicit.latest(PAGE, 'language')).toBe('');
    running = undefined;
  });
});

describe('metrics.path against a flood of scrapes', () => {
  /** A registry whose collections are counted and, when `held`, finish only when the test says. */
  function countingRegistry(held: boolean) {
    const registry = new Registry();
    const collect = registry.metrics.bind(registry);
    let calls = 0;
    const pending: Array<() => void> = [];
    registry.metrics = async () => {
      calls++;
      if (held) await new Promise<void>((resolve) => pending.push(resolve));
      return collect();
    };
    return { registry, calls: () => calls, finish: () => pending.splice(0).forEach((resolve) => resolve()) };
  }

  it('collects once for the scrapes that arrive while a collection is under way, and each gets its answer', async () => {
    const slow = countingRegistry(true);
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ metrics: { registry: slow.registry, path: '/metrics', log: false } })] });
    const server = running.app.getHttpServer() as Server;
    let requests = 0;
    const count = () => requests++;
    server.on('request', count);
    try {
      const scrapes = Array.from({ length: 20 }, () => fetch(`${running.url}/metrics`).then(async (response) => ({ status: response.status, text: await response.text() })));
      await until(() => (requests >= 20 ? true : undefined), 'the 20 scrapes to arrive');
      slow.finish();
      const answers = await Promise.all(scrapes);
      expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 20 }, () => 200));
      expect(answers.every((answer) => answer.text.includes('reflex_bridge_event_duration_seconds'))).toBe(true);
      expect(slow.calls()).toBe(1);
    } finally {
      server.off('request', count);
      slow.finish();
      await running.close();
    }
  });

  it("collects for a pipelined scrape only when its answer is due, so 1,000 in one write do not hold others' requests", async () => {
    const counting = countingRegistry(false);
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ metrics: { registry: counting.registry, path: '/metrics', log: false } })] });
    try {
      // All 1,000 requests are taken in one read; collecting for each at once held the event loop for seconds
      // (with prom-client's default metrics) before any other client's request was read.
      const attacker = await pipelineAndReadNothing(running.app.getHttpServer() as Server, running.url, '/metrics', 1_000);
      const other = await fetch(`${running.url}/metrics`);
      expect(other.status).toBe(200);
      await other.text();
      expect(counting.calls()).toBeLessThan(1_000);
      attacker.leave();
    } finally {
      await running.close();
    }
  });
});

describe('metrics.path when the registry fails, and its headers', () => {
  it("answers a failed collection with a structured 503 (no empty 500), logs it, and the next scrape works again", async () => {
    const registry = new Registry();
    const collect = registry.metrics.bind(registry);
    let failing = true;
    registry.metrics = async () => {
      if (failing) throw new Error('collector exploded at /secret/path.js:12');
      return collect();
    };
    const logger = new CapturingLogger();
    const running = await startApp({ imports: [ReflexBridgeModule.forRoot({ metrics: { registry, path: '/metrics', log: false } })] }, undefined, logger);
    try {
      const failed = await fetch(`${running.url}/metrics`);
      expect(failed.status).toBe(503);
      expect(failed.headers.get('content-type')).toMatch(/^application\/json/);
      expect(failed.headers.get('cache-control')).toBe('no-store');
      expect(failed.headers.get('x-content-type-options')).toBe('nosniff');
      // What failed stays in the log: the scraper learns only that the collection failed.
      expect(await failed.json()).toEqual({ code: 'metrics_unavailable', message: 'Collecting the metrics failed; see the server log.' });
      expect(logger.lines.some((line) => line.message.includes('collector exploded'))).toBe(true);
      failing = false;
      const ok = await fetch(`${running.url}/metrics`);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
      expect(ok.headers.get('cache-control')).toBe('no-store');
      expect(await ok.text()).toContain('reflex_bridge_event_duration_seconds');
    } finally {
      await running.close();
    }
  });
});
