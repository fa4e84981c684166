import { HttpException, Inject, Injectable, Logger, type PipeTransform, type Type } from '@nestjs/common';
import { PIPES_METADATA } from '@nestjs/common/constants.js';
import { CACHE_KEY_METADATA } from '@nestjs/cache-manager';
import { DiscoveryService, ExternalContextCreator, ModuleRef } from '@nestjs/core';
import { isPromise, isThenable, then, tryCatch, type MaybePromise } from '../common/maybe-promise.js';
import { BridgeError } from '../protocol/bridge-error.js';
import type { EventTrace } from '../metrics/event-trace.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import type { HandlerDefinition } from '../state/state-definition.js';
import type { BridgeOutcome } from './bridge-outcome.js';
import { errorFromHttpException, errorFromResponse } from './bridge-error-mapping.js';
import { enhancerName } from './enhancer-timing.js';
import { contextOf, type EventContext } from './request/event-context.js';
import type { SyntheticRequest } from './request/synthetic-request.js';
import type { SyntheticResponse } from './request/synthetic-response.js';
import { TierResolution } from './tiers/tier-resolution.service.js';
import { pastFilters, quietExceptionFilters } from './quiet-exception-filters.js';
import { timedContextCreator } from './timed-context-creator.js';
import { directEnhancedHandler, EnhancerCapture } from './direct-enhancers.js';
import { preparePayloadPipes, runHandlerPayloadPipes } from '../state/payload-pipes.js';
import { resolveHandlerArguments } from '../state/handler-arguments.js';

type EnhancedHandler = (request: SyntheticRequest, response: SyntheticResponse) => MaybePromise<unknown>;

/** The cache key of an event for Nest's `CacheInterceptor`: none (see {@link UserEnhancers}' wrapper). */
const noCacheKey = (): undefined => undefined;

const ENHANCER_KEYS = ['__guards__', '__interceptors__', '__exceptionFilters__'];

/** Which enhancers a wrapped handler runs: all of them, the guards alone (checked early), or all but the guards. */
type EnhancerSet = 'all' | 'guards' | 'after-guards';

const ENHANCER_SETS: Record<EnhancerSet, { guards: boolean; interceptors: boolean; filters: boolean }> = {
  all: { guards: true, interceptors: true, filters: true },
  guards: { guards: true, interceptors: false, filters: false },
  'after-guards': { guards: false, interceptors: true, filters: true },
};

/** What the guards-only wrapper calls once every guard let the request through. */
function passed(): boolean {
  return true;
}

/**
 * The app's own Nest enhancers around a `full`-tier handler: its guards, interceptors and exception filters
 * through Nest's `ExternalContextCreator` (context type `'http'`, the synthetic request and response as
 * arguments), and its `@UsePipes` pipes over the payload arguments. No enhancer runs on `none` or `auth_only`.
 */
@Injectable()
export class UserEnhancers {
  private readonly logger = new Logger('ReflexBridge');
  private readonly enhanced = new Map<HandlerDefinition, EnhancedHandler>();
  /** The guards-only and the guards-already-checked wrappers (uploads), created on first use. */
  private readonly guardsOnly = new Map<HandlerDefinition, EnhancedHandler>();
  private readonly afterGuards = new Map<HandlerDefinition, EnhancedHandler>();
  private readonly pipes = new Map<HandlerDefinition, PipeTransform[]>();
  private readonly names = new Map<HandlerDefinition, Record<'guards' | 'interceptors' | 'pipes' | 'filters', string[]>>();
  /** Nest's external context creator; with devtools on, one that times each guard, interceptor and filter. */
  private readonly contextCreator: ExternalContextCreator;
  /** With devtools off: what Nest resolved for each handler, so that one without interceptors skips Nest's promises. */
  private readonly capture?: EnhancerCapture;

  /** Each state class's own module's `ModuleRef` (see {@link moduleRefOf}), found once. */
  private readonly stateModuleRefs = new Map<Type, ModuleRef>();

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly discovery: DiscoveryService,
    contextCreator: ExternalContextCreator,
    private readonly tiers: TierResolution,
    @Inject(RESOLVED_OPTIONS) options: ResolvedReflexBridgeOptions,
  ) {
    // Decided once: with devtools off, nothing is timed, and a handler without interceptors is called through its
    // guards and filters directly (see direct-enhancers.ts); devtools time each enhancer in Nest's own wrapper.
    contextCreator = quietExceptionFilters(contextCreator);
    if (options.devtools) {
      this.contextCreator = timedContextCreator(contextCreator);
    } else {
      this.capture = new EnhancerCapture(contextCreator);
      this.contextCreator = this.capture.creator;
    }
  }

  /**
   * Warns at startup about handlers whose guards, interceptors or filters will not run because their tier
   * (before any resolver) is not `full`: only the full tier applies Nest enhancers.
   */
  audit(handlers: Iterable<HandlerDefinition>): void {
    for (const handler of handlers) {
      const method = (handler.state.cls.prototype[handler.method] as object | undefined) ?? {};
      const enhanced = ENHANCER_KEYS.some((key) => Reflect.getMetadata(key, handler.state.cls)?.length || Reflect.getMetadata(key, method)?.length);
      if (!enhanced) continue;
      const tier = this.tiers.staticTierOf(handler);
      if (tier !== 'full') {
        this.logger.warn(`${handler.fullName} has guards, interceptors or filters but runs on the "${tier}" tier, which does not apply them.`);
      }
    }
  }

  /**
   * The `full` tier's call: through the handler's guards, interceptors, pipes and exception filters. Synchronous
   * when the handler has no interceptors and its guards, pipes and method answer synchronously (devtools off).
   */
  invoke(outcome: BridgeOutcome, handler: HandlerDefinition, request: SyntheticRequest, response: SyntheticResponse): MaybePromise<unknown> {
    // An exception filter that answered on the synthetic response decides what the client is told, even
    // when Nest rethrows (a filter returning nothing counts as "not handled" in external contexts).
    const answeredByFilter = () => response.finished && response.statusCode >= 400;
    const start = outcome.timer ? performance.now() : 0;
    const enhanced = outcome.guardsChecked ? this.enhancedHandler(handler, 'after-guards') : this.enhancedHandler(handler);
    return tryCatch(
      () =>
        then(enhanced(request, response), (result) => {
          if (outcome.timer) {
            // The wrapper stamped when the call got through: before that is guards, interceptors and pipes.
            const entered = contextOf(request)?.handlerEnteredAt ?? start;
            const trace = outcome.timer.trace;
            // Devtools list the enhancers by class; each one's own step was recorded as it ran (enhancer-timing.ts).
            if (trace) trace.enhancers = this.enhancerNames(handler);
            outcome.timer.add('guards', entered - start);
            outcome.timer.add('handler', performance.now() - entered);
          }
          if (answeredByFilter()) throw errorFromResponse(response, 'The event was refused.');
          return result;
        }),
      (error: unknown) => {
        if (answeredByFilter()) throw errorFromResponse(response, 'The event was refused.');
        throw error instanceof HttpException ? errorFromHttpException(error, response) : error;
      },
    );
  }

  /** Class names of the handler's guards, interceptors, pipes and exception filters (class first), for devtools. */
  enhancerNames(handler: HandlerDefinition): Record<'guards' | 'interceptors' | 'pipes' | 'filters', string[]> {
    let names = this.names.get(handler);
    if (!names) {
      const method = (handler.state.cls.prototype[handler.method] as object | undefined) ?? {};
      const nameOf = (enhancer: unknown) => (typeof enhancer === 'function' ? enhancer.name : ((enhancer as object | null)?.constructor?.name ?? 'anonymous'));
      const read = (key: string) => [...((Reflect.getMetadata(key, handler.state.cls) as unknown[]) ?? []), ...((Reflect.getMetadata(key, method) as unknown[]) ?? [])].map(nameOf);
      // The `@UsePipes` pipes, then the parameters' own `@Payload(key, ...pipes)`, in the order they run.
      const payloadPipes = handler.params.flatMap((param) => param.pipes ?? []).map(nameOf);
      names = { guards: read('__guards__'), interceptors: read('__interceptors__'), pipes: [...read(PIPES_METADATA), ...payloadPipes], filters: read('__exceptionFilters__') };
      this.names.set(handler, names);
    }
    return names;
  }

  /**
   * Runs only the handler's guards (the state class's and the method's `@UseGuards`) on `request`, before the
   * handler is called: an upload's guards decide before any byte of its body is read. Resolves when every guard
   * let it through; a refusal rejects with the structured error (`forbidden` for a guard answering false, the
   * mapped status for an `HttpException`). The call that follows then skips the guards (`guardsChecked`).
   */
  checkGuards(handler: HandlerDefinition, request: SyntheticRequest, response: SyntheticResponse): Promise<void> {
    let checked: Promise<unknown>;
    try {
      checked = Promise.resolve(this.enhancedHandler(handler, 'guards')(request, response));
    } catch (error) {
      checked = Promise.reject(error as Error);
    }
    return checked.then(
      () => undefined,
      (error: unknown) => {
        throw error instanceof HttpException ? errorFromHttpException(error, response) : error;
      },
    );
  }

  /**
   * Runs the `@UsePipes` pipes of the state class and the handler over each payload argument (metadata type
   * `body`, the parameter's declared type as `metatype`), as Nest does for a controller's `@Body()`. Called inside
   * the enhanced handler, so pipes run where Nest runs them: after the guards and the interceptors' work before
   * the handler, and a pipe's exception reaches the exception filters. With devtools on (`trace`), each pipe's
   * run over each argument is a `pipes` step named after its class, and the pipes run with the trace current
   * (a pipe's queries count for the event).
   */
  private applyPipes(handler: HandlerDefinition, args: unknown[], trace: EventTrace | undefined): MaybePromise<unknown[]> {
    return then(this.pipesFor(handler), (pipes) => {
      if (pipes.length === 0) return args;
      return trace ? trace.run(() => this.runPipes(pipes, handler, args, trace)) : this.runPipes(pipes, handler, args, undefined);
    });
  }

  /**
   * Runs the handler's `@Payload(key, ...pipes)` pipes over its arguments, after its `@UsePipes` pipes; with devtools
   * on, each run is a `pipes` step named after its class, run with the trace current (its queries count for the event).
   * A pipe's refusal (`invalid_payload`, with the pipe's messages) passes the app's filters untouched, as the built-in
   * checks' does: the client is told what it is told on the other tiers, not what a catch-all filter makes of it.
   */
  private applyPayloadPipes(handler: HandlerDefinition, args: unknown[], trace: EventTrace | undefined): MaybePromise<readonly unknown[]> {
    let piped: MaybePromise<readonly unknown[]>;
    try {
      piped = trace ? trace.run(() => runHandlerPayloadPipes(handler, args, (pipe, start) => trace.step('pipes', enhancerName(pipe), start))) : runHandlerPayloadPipes(handler, args);
    } catch (error) {
      return refusedPastFilters(error);
    }
    return isPromise(piped) ? piped.catch(refusedPastFilters) : piped;
  }

  /** Synchronous while every pipe answers synchronously (so is the handler's call then). */
  private runPipes(pipes: PipeTransform[], handler: HandlerDefinition, args: unknown[], trace: EventTrace | undefined): MaybePromise<unknown[]> {
    const params = handler.params.length ? handler.params : [{ index: 0, kind: 'payload' as const, key: undefined }];
    const steps: Array<{ index: number; key: string | undefined; pipe: PipeTransform }> = [];
    for (const param of params) {
      if (param.kind === 'payload') for (const pipe of pipes) steps.push({ index: param.index, key: param.key, pipe });
    }
    const piped = [...args];
    const run = (from: number): MaybePromise<unknown[]> => {
      for (let i = from; i < steps.length; i++) {
        const { index, key, pipe } = steps[i];
        const start = trace ? performance.now() : 0;
        const done = () => trace?.step('pipes', enhancerName(pipe), start);
        let value: unknown;
        try {
          value = pipe.transform(piped[index], { type: 'body', metatype: handler.paramTypes[index] as Type, data: key });
        } catch (error) {
          done();
          throw error;
        }
        if (isThenable(value)) {
          return Promise.resolve(value).then(
            (resolved) => {
              done();
              piped[index] = resolved;
              return run(i + 1);
            },
            (error: unknown) => {
              done();
              throw error;
            },
          );
        }
        done();
        piped[index] = value;
      }
      return piped;
    };
    return run(0);
  }

  /**
   * Looks up every handler's `@UsePipes` pipe instances at startup, so that a handler's call never waits for the
   * lookup: the handler then runs in the same synchronous stretch as on every later event (where free accessors
   * without `bridge.asyncContext` can explain themselves), from the first event on.
   */
  async preparePipes(handlers: readonly HandlerDefinition[]): Promise<void> {
    for (const handler of handlers) await this.pipesFor(handler);
    // The `@Payload(key, ...pipes)` pipes too: they run on every tier, from the handler's arguments.
    for (const handler of handlers) await preparePayloadPipes([handler], (pipe) => this.pipeInstance(pipe, handler));
  }

  /** The handler's pipe instances: looked up once (asynchronously, at startup), then answered synchronously. */
  private pipesFor(handler: HandlerDefinition): MaybePromise<PipeTransform[]> {
    return this.pipes.get(handler) ?? this.loadPipes(handler);
  }

  private async loadPipes(handler: HandlerDefinition): Promise<PipeTransform[]> {
    const method = (handler.state.cls.prototype[handler.method] as object | undefined) ?? {};
    const declared = [...((Reflect.getMetadata(PIPES_METADATA, handler.state.cls) as unknown[]) ?? []), ...((Reflect.getMetadata(PIPES_METADATA, method) as unknown[]) ?? [])];
    const pipes = await Promise.all(declared.map((pipe) => (typeof pipe === 'function' ? this.pipeInstance(pipe as Type<PipeTransform>, handler) : (pipe as PipeTransform))));
    this.pipes.set(handler, pipes);
    return pipes;
  }

  /**
   * A pipe class's instance: the app's provider when there is one, else a new instance with its dependencies, taken
   * from the module that declares the handler's state (as Nest instantiates a controller's pipes in its module): the
   * bridge's own module cannot see the app's providers.
   */
  private pipeInstance(pipe: Type<PipeTransform>, handler: HandlerDefinition): MaybePromise<PipeTransform> {
    try {
      return this.moduleRef.get(pipe, { strict: false });
    } catch {
      return this.moduleRefOf(handler.state.cls).create(pipe);
    }
  }

  /** The `ModuleRef` of the module whose provider `cls` is (Nest gives every module one), else the bridge's own. */
  private moduleRefOf(cls: Type): ModuleRef {
    let found = this.stateModuleRefs.get(cls);
    if (!found) {
      const host = this.discovery.getProviders().find((wrapper) => wrapper.metatype === cls)?.host;
      const hostRef = host?.getProviderByKey(ModuleRef)?.instance;
      found = hostRef instanceof ModuleRef ? hostRef : this.moduleRef;
      this.stateModuleRefs.set(cls, found);
    }
    return found;
  }

  /**
   * The handler wrapped by Nest's external context (guards, interceptors, exception filters), created once
   * per handler. Nest calls the wrapper on the Nest singleton; the wrapper calls the real method on this
   * event's state view, found through the context the request carries, with the arguments the pipeline
   * resolved.
   */
  private enhancedHandler(handler: HandlerDefinition, set: EnhancerSet = 'all'): EnhancedHandler {
    const cache = set === 'all' ? this.enhanced : set === 'guards' ? this.guardsOnly : this.afterGuards;
    let enhanced = cache.get(handler);
    if (!enhanced) {
      // eslint-disable-next-line @typescript-eslint/no-this-alias -- the wrapper's own `this` is Nest's, not ours
      const enhancers = this;
      // A handler the module answers itself (a state's built-in `live_subscribe`) has no method: its guards are
      // the class's alone, read through a function that carries no metadata.
      const original = (handler.state.cls.prototype[handler.method] as ((...params: unknown[]) => unknown) | undefined) ?? noMethod;
      const call = (context: EventContext, args: unknown[]) => {
        context.handlerEnteredAt = performance.now();
        return original.apply(context.target, args);
      };
      // Nest calls the wrapper with the execution context's arguments (request, response): the request
      // carries this event's context, so no async context is needed to find the view and arguments.
      // The guards-only wrapper runs before any state is read (an upload, before its body): it calls nothing.
      // The others run the pipes (after the guards and interceptors, as Nest orders them), then the method.
      // A function of its own per handler, as it carries that handler's metadata.
      const wrapper =
        set === 'guards'
          ? function (this: unknown) {
              return passed();
            }
          : (function (this: unknown, ...callArgs: unknown[]) {
              const context = contextOf(callArgs[0] as object);
              if (!context?.target) throw new Error('ReflexBridge: handler invoked outside an event');
              // The built-in type and DTO checks (a pending event's), then the `@UsePipes` pipes, then each parameter's own
              // `@Payload(key, ...pipes)`: as Nest runs a global ValidationPipe, then a controller's pipes, after the guards.
              // The checks' refusal is the module's own answer, past the app's filters, as on the other tiers.
              const given = context.args ?? [];
              const checked =
                'pending' in given
                  ? tryCatch(
                      () => resolveHandlerArguments(handler, given.pending),
                      (error) => {
                        throw pastFilters(error);
                      },
                    )
                  : given;
              return then(checked, (resolved) =>
                then(enhancers.applyPipes(handler, resolved as unknown[], context.trace), (args) =>
                  then(enhancers.applyPayloadPipes(handler, args, context.trace), (piped) => call(context, piped as unknown[])),
                ),
              );
            } as (...callArgs: unknown[]) => unknown);
      Object.defineProperty(wrapper, 'name', { value: original.name });
      // Guards and interceptors read metadata from the handler (`context.getHandler()`): copy it over.
      for (const key of Reflect.getMetadataKeys(original)) Reflect.defineMetadata(key, Reflect.getMetadata(key, original), wrapper);
      // Nest's CacheInterceptor caches GET requests by URL, and an event's synthetic request is a GET of its page's
      // path: a global one (APP_INTERCEPTOR) would answer every later event of the page, any handler and any user,
      // with the first one's result. An event is an action: no key, so never cached, unless the handler names its
      // key itself (`@CacheKey()`).
      if (!Reflect.hasMetadata(CACHE_KEY_METADATA, wrapper)) Reflect.defineMetadata(CACHE_KEY_METADATA, noCacheKey, wrapper);
      const viaNest = this.contextCreator.create(
        handler.state.instance as Record<string, unknown>,
        wrapper,
        handler.method,
        undefined,
        undefined,
        undefined,
        undefined,
        ENHANCER_SETS[set],
        'http',
      ) as EnhancedHandler;
      const resolved = this.capture?.take();
      const direct = set === 'all' && resolved ? directEnhancedHandler(resolved, handler.state.cls, wrapper) : undefined;
      enhanced = (direct as EnhancedHandler | undefined) ?? viaNest;
      cache.set(handler, enhanced);
    }
    return enhanced;
  }
}

/** Rethrows `error`, past the app's exception filters when it is a payload pipe's refusal (see {@link pastFilters}). */
function refusedPastFilters(error: unknown): never {
  throw error instanceof BridgeError && error.code === 'invalid_payload' ? pastFilters(error) : error;
}

/** Stands in for the method of a handler that has none (see {@link UserEnhancers.checkGuards}); never called. */
function noMethod(): never {
  throw new Error('ReflexBridge: a handler without a method was called');
}
