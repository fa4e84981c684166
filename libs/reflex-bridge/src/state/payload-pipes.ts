import { HttpException, type ArgumentMetadata, type PipeTransform, type Type } from '@nestjs/common';
import { isThenable, type MaybePromise } from '../common/maybe-promise.js';
import { BridgeError } from '../protocol/bridge-error.js';
import type { EventParamDefinition } from './event-param.decorator.js';
import { detailText, MAX_DETAILS } from './refusal-details.js';
import type { HandlerDefinition } from './state-definition.js';

/**
 * The pipes of `@Payload(key, ...pipes)` parameters: their instances, looked up once at startup, and their run over
 * a payload value on each event (after the type check; on the `full` tier after the handler's guards and
 * interceptors), with a pipe's 400 / 422 refusal as `invalid_payload`.
 */


/**
 * Told of each pipe's run (devtools: a `pipes` step under its class name): the pipe, and `performance.now()` when it
 * began. Called when the run ended, whether it passed or refused.
 */
export type PipeRunRecorder = (pipe: PipeTransform, start: number) => void;

/** Instances of the pipes each payload parameter declares, by parameter: set at startup by {@link preparePayloadPipes}. */
const instances = new WeakMap<EventParamDefinition, readonly PipeTransform[]>();

/**
 * Looks up the instances of every `@Payload(...)` pipe of `handlers` (a class through `instantiate`, the module's
 * injector; an instance as it is), so that no event waits for that lookup.
 */
export async function preparePayloadPipes(handlers: Iterable<HandlerDefinition>, instantiate: (pipe: Type<PipeTransform>) => MaybePromise<PipeTransform>): Promise<void> {
  for (const handler of handlers) {
    for (const param of handler.params) {
      if (param.pipes === undefined || instances.has(param)) continue;
      const made: PipeTransform[] = [];
      for (const pipe of param.pipes) made.push(typeof pipe === 'function' ? await instantiate(pipe) : pipe);
      instances.set(param, made);
    }
  }
}

/** The client's error for what a pipe threw: `invalid_payload` for a 400 / 422 `HttpException`, else the error itself. */
function refusal(error: unknown, label: string): unknown {
  if (!(error instanceof HttpException)) return error;
  const status = error.getStatus();
  if (status !== 400 && status !== 422) return error;
  const body = error.getResponse();
  const said = typeof body === 'string' ? body : (body as { message?: unknown }).message;
  const messages = (Array.isArray(said) ? said : [typeof said === 'string' ? said : error.message]).slice(0, MAX_DETAILS);
  return new BridgeError('invalid_payload', `${label} was refused.`, messages.map((message) => `${label}: ${detailText(String(message))}`), status);
}

/**
 * Runs `param`'s pipes over `value` in order (`metadata`: `{ type: 'body', metatype, data: key }`). Synchronous while
 * every pipe answers synchronously. Throws (or rejects with) `invalid_payload` for a pipe's 400 / 422.
 */
export function runPayloadPipes(param: EventParamDefinition, value: unknown, metatype: unknown, label: string, recorder?: PipeRunRecorder): MaybePromise<unknown> {
  const pipes = instances.get(param);
  // Only before the module's bootstrap ended (an event cannot arrive then): refuse rather than skip the checks.
  if (pipes === undefined) throw new Error(`The pipes of ${label} were not prepared: the ReflexBridge module has not finished its bootstrap.`);
  const metadata: ArgumentMetadata = { type: 'body', metatype: metatype as Type | undefined, data: param.key };
  return runFrom(0, pipes, value, metadata, label, recorder);
}

/**
 * Runs the `@Payload(key, ...pipes)` pipes of every payload parameter of `handler` over its argument in `args` (a
 * copy is answered; `args` is left as it is), parameter by parameter: what the `full` tier does inside the handler's
 * Nest call, after its guards and interceptors, as Nest runs a controller's parameter pipes. Synchronous while every
 * pipe answers synchronously; `args` itself when no parameter has pipes.
 */
export function runHandlerPayloadPipes(handler: HandlerDefinition, args: readonly unknown[], recorder?: PipeRunRecorder): MaybePromise<readonly unknown[]> {
  let piped: unknown[] | undefined;
  const params = handler.params;
  const from = (first: number): MaybePromise<readonly unknown[]> => {
    for (let i = first; i < params.length; i++) {
      const param = params[i];
      if (param.kind !== 'payload' || param.pipes === undefined) continue;
      piped ??= [...args];
      const target = piped;
      const label = param.key === undefined ? 'payload' : `payload.${param.key}`;
      const value = runPayloadPipes(param, target[param.index], handler.paramTypes[param.index], label, recorder);
      if (isThenable(value)) {
        return Promise.resolve(value).then((resolved) => {
          target[param.index] = resolved;
          return from(i + 1);
        });
      }
      target[param.index] = value;
    }
    return piped ?? args;
  };
  return from(0);
}

function runFrom(first: number, pipes: readonly PipeTransform[], value: unknown, metadata: ArgumentMetadata, label: string, recorder: PipeRunRecorder | undefined): MaybePromise<unknown> {
  let current = value;
  for (let i = first; i < pipes.length; i++) {
    const pipe = pipes[i];
    const start = recorder ? performance.now() : 0;
    let result: unknown;
    try {
      result = pipe.transform(current, metadata);
    } catch (error) {
      recorder?.(pipe, start);
      throw refusal(error, label);
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        (resolved) => {
          recorder?.(pipe, start);
          return runFrom(i + 1, pipes, resolved, metadata, label, recorder);
        },
        (error: unknown) => {
          recorder?.(pipe, start);
          throw refusal(error, label);
        },
      );
    }
    recorder?.(pipe, start);
    current = result;
  }
  return current;
}
