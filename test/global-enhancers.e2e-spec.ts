import { afterEach, describe, expect, it } from '@jest/globals';
import { Catch, Injectable, type ArgumentsHost, type CallHandler, type CanActivate, type ExceptionFilter, type ExecutionContext, type NestInterceptor, type PipeTransform } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { BridgeTier, EventHandler, Payload, ReflexBridgeModule, State } from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';

const PROBE = 'reflex___state____state.probe_state';
/** What the app-wide enhancers saw, as `<kind>:<context type>:<handler>`. */
const seen: string[] = [];
let filterAnswer: 'nothing' | 'rethrow' = 'nothing';

@Injectable()
class AppGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    seen.push(`guard:${context.getType()}:${context.getHandler().name}`);
    return true;
  }
}

@Injectable()
class AppInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    seen.push(`interceptor:${context.getType()}:${context.getHandler().name}`);
    return next.handle();
  }
}

@Injectable()
class AppPipe implements PipeTransform {
  transform(value: unknown): unknown {
    seen.push(`pipe:${JSON.stringify(value)}`);
    return value;
  }
}

/** A catch-all filter that answers nothing, or rethrows: the client must still be told. */
@Catch()
class AppFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    seen.push(`filter:${host.getType()}:${filterAnswer}`);
    if (filterAnswer === 'rethrow') throw error;
  }
}

@State()
class ProbeState {
  n = 0;

  @EventHandler()
  full(@Payload('n') n: number): void {
    this.n = n;
  }

  @EventHandler()
  @BridgeTier('auth_only')
  authOnly(@Payload('n') n: number): void {
    this.n = n;
  }

  @EventHandler()
  @BridgeTier('none')
  none(@Payload('n') n: number): void {
    this.n = n;
  }

  @EventHandler()
  fail(): void {
    this.n = -1;
    throw new Error('kaput');
  }
}

describe('app-wide enhancers (APP_GUARD, APP_INTERCEPTOR, APP_PIPE, APP_FILTER, app.useGlobal*) and bridged events', () => {
  let running: RunningApp | undefined;
  const sockets: RawSocket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await running?.close();
    running = undefined;
  });

  const start = async (viaApp: boolean) => {
    const providers = viaApp
      ? [ProbeState]
      : [ProbeState, { provide: APP_GUARD, useClass: AppGuard }, { provide: APP_INTERCEPTOR, useClass: AppInterceptor }, { provide: APP_PIPE, useClass: AppPipe }, { provide: APP_FILTER, useClass: AppFilter }];
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({})], providers }, (app) => {
      if (!viaApp) return;
      app.useGlobalGuards(new AppGuard());
      app.useGlobalInterceptors(new AppInterceptor());
      app.useGlobalPipes(new AppPipe());
      app.useGlobalFilters(new AppFilter());
    });
    return RawSocket.hydrated(running.url, sockets);
  };

  it.each([['as APP_* providers', false], ['with app.useGlobal*()', true]])(
    '%s: guards and interceptors run on full only, with the context type "http"; pipes on none; a filter that answers nothing or rethrows still gets the client handler_error',
    async (_how, viaApp) => {
      const client = await start(viaApp);
      seen.length = 0;
      client.send(`${PROBE}.full`, { n: 1 });
      await client.untilVar(PROBE, 'n', 1);
      client.send(`${PROBE}.authOnly`, { n: 2 });
      await client.untilVar(PROBE, 'n', 2);
      client.send(`${PROBE}.none`, { n: 3 });
      await client.untilVar(PROBE, 'n', 3);
      expect(seen).toEqual(['guard:http:full', 'interceptor:http:full']);

      for (const answer of ['nothing', 'rethrow'] as const) {
        filterAnswer = answer;
        seen.length = 0;
        const errors = client.errors.length;
        client.send(`${PROBE}.fail`);
        await client.until(() => client.errors.length > errors, 20_000, `the failure's answer (filter: ${answer})`);
        expect(client.errors.slice(errors)).toEqual([expect.objectContaining({ code: 'handler_error', event: `${PROBE}.fail` })]);
        expect(seen).toEqual(['guard:http:fail', 'interceptor:http:fail', `filter:http:${answer}`]);
      }
      // The failed handler's change was not kept.
      expect(client.latest(PROBE, 'n')).toBe(3);
    },
  );
});
