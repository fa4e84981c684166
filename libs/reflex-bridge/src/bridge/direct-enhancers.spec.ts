import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  BadRequestException, Catch, type CanActivate, type ExceptionFilter, Injectable, Module, UseFilters, UseGuards, UseInterceptors,
  type CallHandler, type ExecutionContext, type INestApplicationContext, type NestInterceptor,
} from '@nestjs/common';
import { APP_GUARD, ExternalContextCreator, NestFactory } from '@nestjs/core';
import fc from 'fast-check';
import { of, type Observable } from 'rxjs';
import { isThenable } from '../common/maybe-promise.js';
import { directEnhancedHandler, EnhancerCapture } from './direct-enhancers.js';

/** What each guard and the handler do in one sample: decided by the property, read by the classes below. */
type Answer = 'true' | 'false' | 'promise-true' | 'promise-false' | 'observable-true' | 'observable-false' | 'http-error' | 'error';
type Outcome = 'value' | 'promise' | 'observable' | 'http-error' | 'error' | 'filtered-error';
const script: { guards: Answer[]; handler: Outcome; calls: string[] } = { guards: [], handler: 'value', calls: [] };

class Refused extends Error {}

function answer(index: number, context: ExecutionContext): boolean | Promise<boolean> | Observable<boolean> {
  const http = context.switchToHttp();
  script.calls.push(
    `guard ${index} ${context.getType()} ${context.getClass().name}.${context.getHandler().name} ` +
      `${JSON.stringify(http.getRequest())} ${JSON.stringify(http.getResponse())} ${typeof http.getNext()}`,
  );
  switch (script.guards[index]) {
    case 'true':
      return true;
    case 'false':
      return false;
    case 'promise-true':
      return Promise.resolve(true);
    case 'promise-false':
      return Promise.resolve(false);
    case 'observable-true':
      return of(true);
    case 'observable-false':
      return of(false);
    case 'http-error':
      throw new BadRequestException(`guard ${index} says no`);
    default:
      throw new Error(`guard ${index} broke`);
  }
}

@Injectable()
class GlobalGuard implements CanActivate {
  canActivate(context: ExecutionContext) {
    return answer(0, context);
  }
}

@Injectable()
class ClassGuard implements CanActivate {
  canActivate(context: ExecutionContext) {
    return answer(1, context);
  }
}

@Injectable()
class MethodGuard implements CanActivate {
  canActivate(context: ExecutionContext) {
    return answer(2, context);
  }
}

/** Answers a `Refused` error with a value instead of rethrowing it (a filter that handled the error). */
@Catch(Refused)
class RefusedFilter implements ExceptionFilter {
  catch(error: Refused): string {
    return `filtered: ${error.message}`;
  }
}

@Injectable()
class PassThrough implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle();
  }
}

@Injectable()
@UseGuards(ClassGuard)
class Target {
  @UseGuards(MethodGuard)
  @UseFilters(RefusedFilter)
  run(): unknown {
    script.calls.push('handler');
    switch (script.handler) {
      case 'value':
        return 'done';
      case 'promise':
        return Promise.resolve('done later');
      case 'observable':
        return of('first', 'last');
      case 'http-error':
        throw new BadRequestException('handler says no');
      case 'filtered-error':
        throw new Refused('handler refused');
      default:
        throw new Error('handler broke');
    }
  }

  @UseInterceptors(PassThrough)
  intercepted(): string {
    return 'intercepted';
  }
}

@Module({ providers: [Target, { provide: APP_GUARD, useClass: GlobalGuard }] })
class TestModule {}

/** How a call ended, in terms a user notices: its value, or the error's class and message. */
async function settle(call: () => unknown): Promise<string> {
  try {
    const result = call();
    return `value ${JSON.stringify(isThenable(result) ? await result : result)}`;
  } catch (error) {
    return `error ${(error as Error).constructor.name}: ${(error as Error).message}`;
  }
}

describe('directEnhancedHandler', () => {
  let app: INestApplicationContext;
  let creator: ExternalContextCreator;
  let target: Target;

  beforeAll(async () => {
    app = await NestFactory.createApplicationContext(TestModule, { logger: false });
    creator = app.get(ExternalContextCreator);
    target = app.get(Target);
  });

  afterAll(async () => {
    await app.close();
  });

  function wrap(method: 'run' | 'intercepted') {
    const capture = new EnhancerCapture(creator);
    const callback = (...args: unknown[]) => (target[method] as (...params: unknown[]) => unknown).apply(target, args);
    Object.defineProperty(callback, 'name', { value: method });
    for (const key of Reflect.getMetadataKeys(target[method])) Reflect.defineMetadata(key, Reflect.getMetadata(key, target[method]), callback);
    const viaNest = capture.creator.create(target as never, callback, method, undefined, undefined, undefined, undefined, undefined, 'http');
    const resolved = capture.take();
    return { viaNest, resolved, direct: resolved && directEnhancedHandler(resolved, Target, callback) };
  }

  it('finds what Nest resolved for a handler: the global guard first, then the class and method guards', () => {
    const { resolved, direct } = wrap('run');
    expect(resolved?.guards.map((guard) => guard.constructor.name)).toEqual(['GlobalGuard', 'ClassGuard', 'MethodGuard']);
    expect(resolved?.interceptors).toEqual([]);
    expect(direct).toBeDefined();
  });

  it('leaves a handler with interceptors to Nest', () => {
    const { resolved, direct } = wrap('intercepted');
    expect(resolved?.interceptors).toHaveLength(1);
    expect(direct).toBeUndefined();
  });

  it('answers undefined with other Nest internals than the expected ones, so callers keep Nest\'s wrapper', () => {
    const capture = new EnhancerCapture({ create: () => undefined } as unknown as ExternalContextCreator);
    expect(capture.take()).toBeUndefined();
  });

  it('runs synchronously when the guards answer booleans and the handler a value', () => {
    const { direct } = wrap('run');
    Object.assign(script, { guards: ['true', 'true', 'true'], handler: 'value', calls: [] });
    expect(direct!({}, {})).toBe('done');
  });

  it('ends every call as Nest\'s own wrapper does: same value or error, same guards and handler called in the same order', async () => {
    const { viaNest, direct } = wrap('run');
    const answers = fc.constantFrom<Answer>('true', 'false', 'promise-true', 'promise-false', 'observable-true', 'observable-false', 'http-error', 'error');
    const outcomes = fc.constantFrom<Outcome>('value', 'promise', 'observable', 'http-error', 'error', 'filtered-error');
    await fc.assert(
      fc.asyncProperty(fc.tuple(answers, answers, answers), outcomes, async (guards, handler) => {
        Object.assign(script, { guards, handler, calls: [] });
        const nest = await settle(() => viaNest({ kind: 'request' }, { kind: 'response' }));
        const nestCalls = script.calls;
        script.calls = [];
        const ours = await settle(() => direct!({ kind: 'request' }, { kind: 'response' }));
        expect(ours).toBe(nest);
        expect(script.calls).toEqual(nestCalls);
      }),
      { numRuns: 300 },
    );
  });
});
