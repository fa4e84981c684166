/**
 * Devtools' finer capture: each guard, interceptor, pipe and exception filter of a `full` handler timed under its
 * own class name, and the SQL queries a handler runs after its first `await` counted for its event.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  Catch, Injectable, Module, UseFilters, UseGuards, UseInterceptors, UsePipes,
  type ArgumentsHost, type CallHandler, type CanActivate, type ExceptionFilter, type ExecutionContext, type INestApplication, type NestInterceptor, type PipeTransform,
} from '@nestjs/common';
import type { Response } from 'express';
import { map, type Observable } from 'rxjs';
import { DataSource } from 'typeorm';
import { BridgeDevtools, BridgeTier, DevtoolsQuerySubscriber, EventHandler, Payload, ReflexBridgeModule, State, type EventInspection } from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';
import { until } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';

const ROOT = 'reflex___state____state';

/** A macrotask hop: whatever follows runs in a later turn of the event loop, as after real I/O. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A guard that answers at once. */
@Injectable()
class OpenGuard implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

/** A guard that asks the database after a macrotask hop. */
@Injectable()
class LaterGuard implements CanActivate {
  constructor(private readonly db: DataSource) {}

  async canActivate(): Promise<boolean> {
    await nextTurn();
    await this.db.query("SELECT 'guard' AS guard_query");
    return true;
  }
}

/** Wraps the handler's answer. */
@Injectable()
class EnvelopeInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map((value) => ({ value })));
  }
}

/** Runs before the handler and after EnvelopeInterceptor. */
@Injectable()
class AuditInterceptor implements NestInterceptor {
  async intercept(_context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    await nextTurn();
    return next.handle();
  }
}

/** Upper-cases `payload.label`, after asking the database. */
@Injectable()
class LabelPipe implements PipeTransform {
  constructor(private readonly db: DataSource) {}

  async transform(value: { label?: string }): Promise<{ label: string }> {
    await this.db.query("SELECT 'pipe' AS pipe_query");
    return { label: String(value?.label ?? '').toUpperCase() };
  }
}

/** Trims a payload key (a `@Payload('label', TrimPipe)` pipe). */
class TrimPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    return value.trim();
  }
}

class Sold extends Error {}

/** Answers a Sold with 409. */
@Catch(Sold)
class SoldFilter implements ExceptionFilter {
  catch(_error: Sold, host: ArgumentsHost): void {
    host.switchToHttp().getResponse<Response>().status(409).json({ message: 'Sold out.' });
  }
}

@State()
@BridgeTier('full')
@UseGuards(OpenGuard)
class ShelfState {
  label = '';

  @EventHandler()
  @UseGuards(LaterGuard)
  @UseInterceptors(EnvelopeInterceptor, AuditInterceptor)
  @UsePipes(LabelPipe)
  name(payload: { label: string }): string {
    this.label = payload.label;
    return this.label;
  }

  /** A payload key through its own pipe: on `full`, after the guards. */
  @EventHandler()
  shelve(@Payload('label', TrimPipe) label: string): void {
    this.label = label;
  }

  @EventHandler()
  @UseFilters(SoldFilter)
  buy(): void {
    throw new Sold();
  }
}

@State()
class ReportState {
  rows = 0;

  constructor(private readonly db: DataSource) {}

  /** Awaits first, then queries twice: both queries belong to this event. */
  @EventHandler()
  @BridgeTier('none')
  async load(): Promise<void> {
    await nextTurn();
    const first = (await this.db.query('SELECT 1 AS first_query')) as unknown[];
    await nextTurn();
    const second = (await this.db.query("SELECT 'two' AS second_query")) as unknown[];
    this.rows = first.length + second.length;
  }

  /** A payload key through its own pipe on `none`. */
  @EventHandler()
  @BridgeTier('none')
  tag(@Payload('label', TrimPipe) label: string): void {
    this.rows = label.length;
  }

  /** The same on `full`, through Nest's enhancer wrapper. */
  @EventHandler()
  @BridgeTier('full')
  async loadFull(): Promise<void> {
    await nextTurn();
    await this.db.query('SELECT 3 AS third_query');
    await nextTurn();
    await this.db.query('SELECT 4 AS fourth_query');
    this.rows = 4;
  }

  /** A streaming handler: a query before its first step, and one after it. */
  @EventHandler()
  @BridgeTier('none')
  async *stream(): AsyncGenerator<void> {
    await nextTurn();
    await this.db.query('SELECT 5 AS fifth_query');
    this.rows = 1;
    yield;
    await nextTurn();
    await this.db.query('SELECT 6 AS sixth_query');
    this.rows = 2;
  }
}

@Module({
  providers: [
    {
      provide: DataSource,
      useFactory: async () => new DataSource({ type: 'better-sqlite3', database: ':memory:' }).initialize(),
    },
    ReportState,
    ShelfState,
    LabelPipe,
  ],
})
class ReportModule {}

describe('devtools: queries after the first await', () => {
  let running: RunningApp;
  let app: INestApplication;

  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ devtools: true }), ReportModule] });
    app = running.app;
    new DevtoolsQuerySubscriber().attach(app.get(DataSource));
  });
  afterAll(async () => {
    await running?.close();
  });

  it('times each @Payload pipe under its class name: on full after the guards, on none before the handler', async () => {
    const tab = new RawSocket(running.url);
    await tab.connected();
    await tab.hydrate();
    const devtools = app.get(BridgeDevtools);
    const shelf = `${ROOT}.shelf_state`;
    tab.send(`${shelf}.shelve`, { label: '  jam ' });
    await tab.untilVar(shelf, 'label', 'jam');
    const shelved = await until(() => devtools.recent({ handler: 'shelf_state.shelve', token: tab.token })[0], 'the shelve event');
    const pipe = shelved.phases.find((step) => step.phase === 'pipes' && step.name === 'TrimPipe');
    const guard = shelved.phases.find((step) => step.phase === 'guards' && step.name === 'OpenGuard');
    expect(pipe).toBeDefined();
    expect(pipe!.startMs).toBeGreaterThanOrEqual(guard!.startMs + guard!.durationMs);
    expect(shelved.enhancers).toEqual({ guards: ['OpenGuard'], interceptors: [], pipes: ['TrimPipe'], filters: [] });
    const report = `${ROOT}.report_state`;
    tab.send(`${report}.tag`, { label: ' ab ' });
    await tab.untilVar(report, 'rows', 2);
    const tagged = await until(() => devtools.recent({ handler: 'report_state.tag', token: tab.token })[0], 'the tag event');
    expect(tagged.phases.filter((step) => step.phase === 'pipes').map((step) => step.name)).toEqual(['TrimPipe']);
    tab.close();
  });

  it('times each guard, interceptor, pipe and exception filter of a full handler under its class name', async () => {
    const tab = new RawSocket(running.url);
    await tab.connected();
    await tab.hydrate();
    const name = `${ROOT}.shelf_state`;
    tab.send(`${name}.name`, { label: 'tea' });
    await tab.untilVar(name, 'label', 'TEA');
    const devtools = app.get(BridgeDevtools);
    const named = await until(() => devtools.recent({ handler: 'shelf_state.name', token: tab.token })[0], 'the name event');
    const steps = (phase: string) => named.phases.filter((step) => step.phase === phase && step.name !== phase);
    // Class guards first, then the handler's; interceptors outermost first, each before and after the handler.
    expect(steps('guards').map((step) => step.name)).toEqual(['OpenGuard', 'LaterGuard']);
    expect(steps('pipes').map((step) => step.name)).toEqual(['LabelPipe']);
    expect(steps('interceptors').map((step) => step.name).sort()).toEqual(['AuditInterceptor', 'AuditInterceptor (after)', 'EnvelopeInterceptor', 'EnvelopeInterceptor (after)']);
    const handler = named.phases.find((step) => step.phase === 'handler')!;
    const at = (stepName: string) => named.phases.find((step) => step.name === stepName)!;
    // Each drawn where it ran: the guards before the interceptors, the interceptors' own work around the handler.
    expect(at('LaterGuard').startMs).toBeGreaterThanOrEqual(at('OpenGuard').startMs);
    expect(at('EnvelopeInterceptor').startMs).toBeGreaterThanOrEqual(at('LaterGuard').startMs + at('LaterGuard').durationMs);
    expect(at('AuditInterceptor').startMs).toBeGreaterThanOrEqual(at('EnvelopeInterceptor').startMs);
    expect(at('AuditInterceptor (after)').startMs).toBeGreaterThanOrEqual(handler.startMs);
    expect(at('EnvelopeInterceptor (after)').startMs).toBeGreaterThanOrEqual(at('AuditInterceptor (after)').startMs);
    for (const step of [...steps('guards'), ...steps('interceptors'), ...steps('pipes')]) expect(step.durationMs).toBeGreaterThanOrEqual(0);
    // The guard's and the pipe's queries belong to the event too, in the order they ran: guards, then pipes.
    expect(named.queries.map((query) => query.sql)).toEqual([expect.stringContaining('guard_query'), expect.stringContaining('pipe_query')]);
    expect(at('LabelPipe').startMs).toBeGreaterThanOrEqual(at('AuditInterceptor').startMs);
    expect(named.enhancers).toEqual({ guards: ['OpenGuard', 'LaterGuard'], interceptors: ['EnvelopeInterceptor', 'AuditInterceptor'], pipes: ['LabelPipe'], filters: [] });

    // The filter that caught the handler's error, by class; the client gets the filter's answer.
    tab.send(`${name}.buy`);
    await tab.until(() => tab.errors.length > 0, 20_000, 'the filtered error');
    const bought = await until(() => devtools.recent({ handler: 'shelf_state.buy', token: tab.token })[0], 'the buy event');
    expect(bought.phases.filter((step) => step.phase === 'filters').map((step) => step.name)).toEqual(['SoldFilter']);
    expect(bought.error).toMatchObject({ message: 'Sold out.' });
    tab.close();
  });

  for (const [handler, texts] of [
    ['load', ['first_query', 'second_query']],
    ['loadFull', ['third_query', 'fourth_query']],
    ['stream', ['fifth_query', 'sixth_query']],
  ] as const) {
    it(`counts both queries of ${handler}, run after awaits, with their SQL`, async () => {
      const tab = new RawSocket(running.url);
      await tab.connected();
      await tab.hydrate();
      const name = `${ROOT}.report_state`;
      tab.send(`${name}.${handler}`);
      const event: EventInspection = await until(() => app.get(BridgeDevtools).recent({ handler: `report_state.${handler}`, token: tab.token })[0], `the ${handler} event`);
      expect(event.queryCount).toBe(2);
      expect(event.queries.map((query) => query.sql)).toEqual([expect.stringContaining(texts[0]), expect.stringContaining(texts[1])]);
      for (const query of event.queries) expect(query.durationMs).toBeGreaterThanOrEqual(0);
      tab.close();
    });
  }
});
