import { describe, expect, it } from '@jest/globals';
import { Catch, type ArgumentsHost, type CallHandler, type CanActivate, type ExceptionFilter, type NestInterceptor } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { firstValueFrom, lastValueFrom, map, of, throwError, type Observable } from 'rxjs';
import { EventTrace } from '../metrics/event-trace.js';
import { timedFilter, timedGuard, timedInterceptor } from './enhancer-timing.js';
import { attachEventContext } from './request/event-context.js';

/** An execution context whose request carries an event with a devtools trace (or none). */
function eventContext(traced = true): { context: ExecutionContextHost; trace: EventTrace } {
  const trace = new EventTrace(performance.now());
  const request = {};
  attachEventContext(request, { tier: 'full', handlerName: 'shelf.name', ...(traced ? { trace } : {}) });
  return { context: new ExecutionContextHost([request, {}]), trace };
}

const names = (trace: EventTrace) => trace.steps.map((step) => `${step.phase}:${step.name}`);

class OpenGuard implements CanActivate {
  calls = 0;
  canActivate(): boolean {
    this.calls++;
    return true;
  }
}

class LaterGuard implements CanActivate {
  canActivate(): Promise<boolean> {
    return Promise.resolve(false);
  }
}

class ObservedGuard implements CanActivate {
  canActivate(): Observable<boolean> {
    return of(true);
  }
}

class BrokenGuard implements CanActivate {
  canActivate(): boolean {
    throw new Error('broken');
  }
}

describe('timedGuard', () => {
  it('records a synchronous guard under its class name, keeping its answer and `this`', () => {
    const { context, trace } = eventContext();
    const guard = new OpenGuard();
    expect(timedGuard(guard).canActivate(context)).toBe(true);
    expect(guard.calls).toBe(1);
    expect(names(trace)).toEqual(['guards:OpenGuard']);
    expect(trace.steps[0].durationMs).toBeGreaterThanOrEqual(0);
  });

  it('records a promise or observable answer once it settles, and a guard that throws', async () => {
    const { context, trace } = eventContext();
    const pending = timedGuard(new LaterGuard()).canActivate(context) as Promise<boolean>;
    expect(trace.steps).toHaveLength(0);
    await expect(pending).resolves.toBe(false);
    await expect(lastValueFrom(timedGuard(new ObservedGuard()).canActivate(context) as Observable<boolean>)).resolves.toBe(true);
    expect(() => timedGuard(new BrokenGuard()).canActivate(context)).toThrow('broken');
    expect(names(trace)).toEqual(['guards:LaterGuard', 'guards:ObservedGuard', 'guards:BrokenGuard']);
  });

  it('only delegates for a request that carries no trace (devtools off for it, or not an event)', () => {
    const { context, trace } = eventContext(false);
    expect(timedGuard(new OpenGuard()).canActivate(context)).toBe(true);
    expect(timedGuard(new OpenGuard()).canActivate(new ExecutionContextHost([undefined]))).toBe(true);
    expect(trace.steps).toHaveLength(0);
  });
});

class EnvelopeInterceptor implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map((value) => ({ value })));
  }
}

class CacheInterceptor implements NestInterceptor {
  intercept(): Observable<unknown> {
    return of('cached');
  }
}

class AsyncInterceptor implements NestInterceptor {
  async intercept(_context: unknown, next: CallHandler): Promise<Observable<unknown>> {
    await Promise.resolve();
    return next.handle();
  }
}

describe('timedInterceptor', () => {
  it('records its work before next.handle() and on the answer, keeping the answer', async () => {
    const { context, trace } = eventContext();
    const next: CallHandler = { handle: () => of('tea') };
    await expect(firstValueFrom(timedInterceptor(new EnvelopeInterceptor()).intercept(context, next) as Observable<unknown>)).resolves.toEqual({ value: 'tea' });
    expect(names(trace)).toEqual(['interceptors:EnvelopeInterceptor', 'interceptors:EnvelopeInterceptor (after)']);
  });

  it('records the whole run of one that answers by itself, and accepts a promise of an observable', async () => {
    const { context, trace } = eventContext();
    const next: CallHandler = { handle: () => of('fresh') };
    await expect(lastValueFrom(timedInterceptor(new CacheInterceptor()).intercept(context, next) as Observable<unknown>)).resolves.toBe('cached');
    const answer = (await timedInterceptor(new AsyncInterceptor()).intercept(context, next)) as Observable<unknown>;
    await expect(lastValueFrom(answer)).resolves.toBe('fresh');
    expect(names(trace)).toEqual(['interceptors:CacheInterceptor', 'interceptors:AsyncInterceptor', 'interceptors:AsyncInterceptor (after)']);
  });

  it('passes the handler error on, still recording its steps', async () => {
    const { context, trace } = eventContext();
    const next: CallHandler = { handle: () => throwError(() => new Error('handler failed')) };
    await expect(lastValueFrom(timedInterceptor(new EnvelopeInterceptor()).intercept(context, next) as Observable<unknown>)).rejects.toThrow('handler failed');
    expect(names(trace)).toEqual(['interceptors:EnvelopeInterceptor', 'interceptors:EnvelopeInterceptor (after)']);
  });
});

class Sold extends Error {}

@Catch(Sold)
class SoldFilter implements ExceptionFilter {
  catch(_error: Sold, _host: ArgumentsHost): string {
    return 'answered';
  }
}

describe('timedFilter', () => {
  it('records the filter that caught, and keeps its @Catch types readable through the prototype', () => {
    const { context, trace } = eventContext();
    const filter = timedFilter(new SoldFilter());
    expect(filter.catch(new Sold(), context)).toBe('answered');
    expect(names(trace)).toEqual(['filters:SoldFilter']);
    // Nest reads a filter's exception types from its prototype (`Object.getPrototypeOf(instance)`).
    expect(Reflect.getMetadata('__filterCatchExceptions__', Object.getPrototypeOf(filter))).toEqual([Sold]);
  });
});
