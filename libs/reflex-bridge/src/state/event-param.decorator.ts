import 'reflect-metadata';
import type { PipeTransform, Type } from '@nestjs/common';
import { isForbiddenKey } from '../protocol/inbound-event.js';

/** What a decorated handler parameter receives. */
export type EventParamKind = 'payload' | 'request' | 'user' | 'session' | 'route' | 'uploads' | 'upload-chunks' | 'upload-signal';

/**
 * How a handler takes uploads, from its upload parameter: `buffered` (`@EventUploads()`: the whole form, files on
 * disk) or `streaming` (`@EventUploadChunks()`: chunks as they arrive). A handler without one accepts no upload.
 */
export type HandlerUploadMode = 'buffered' | 'streaming';

/** A pipe as `@Payload(...)` takes it: an instance, or a class the module's injector instantiates at startup. */
export type PayloadPipe = PipeTransform | Type<PipeTransform>;

/** One decorated parameter: its position, kind and (for `payload`) an optional key and pipes. */
export interface EventParamDefinition {
  index: number;
  kind: EventParamKind;
  key?: string;
  /** The `@Payload(...)` pipes as declared, in order; absent (never empty) when there are none. */
  pipes?: readonly PayloadPipe[];
}

const EVENT_PARAMS = Symbol('reflex-bridge:event-params');

function eventParam(kind: EventParamKind, key?: string, pipes?: readonly PayloadPipe[]): ParameterDecorator {
  return (target, propertyKey, index) => {
    if (propertyKey === undefined) throw new Error(`@${kind} decorators belong on event handler parameters`);
    const existing: EventParamDefinition[] = Reflect.getMetadata(EVENT_PARAMS, target, propertyKey) ?? [];
    const param: EventParamDefinition = pipes?.length ? { index, kind, key, pipes } : { index, kind, key };
    Reflect.defineMetadata(EVENT_PARAMS, [...existing, param], target, propertyKey);
  };
}

/** A pipe instance (an object with `transform`) or a pipe class; anything else is a mistake worth failing on. */
function checkPipe(pipe: unknown): PayloadPipe {
  if (typeof pipe === 'function' || (typeof pipe === 'object' && pipe !== null && typeof (pipe as PipeTransform).transform === 'function')) return pipe as PayloadPipe;
  throw new Error(`@Payload() takes a key and pipes (a PipeTransform class or instance); got ${String(pipe)}`);
}

/**
 * The upload mode a handler's decorated parameters declare, or `undefined` when it has no upload parameter. A
 * handler may declare one upload parameter only: two are refused at startup with an error naming the handler.
 */
export function uploadModeOf(params: readonly EventParamDefinition[], handlerName: string): HandlerUploadMode | undefined {
  let mode: HandlerUploadMode | undefined;
  for (const param of params) {
    if (param.kind !== 'uploads' && param.kind !== 'upload-chunks') continue;
    if (mode !== undefined) throw new Error(`${handlerName} declares more than one upload parameter (@EventUploads() / @EventUploadChunks()); it may take one.`);
    mode = param.kind === 'uploads' ? 'buffered' : 'streaming';
  }
  if (mode === undefined && params.some((param) => param.kind === 'upload-signal')) {
    throw new Error(`${handlerName} has an @EventUploadSignal() parameter but no upload parameter (@EventUploads() / @EventUploadChunks()): only uploads are cancelled this way.`);
  }
  return mode;
}

/** The decorated parameters of a handler, or `[]`. */
export function getEventParams(prototype: object, method: string): EventParamDefinition[] {
  return Reflect.getMetadata(EVENT_PARAMS, prototype, method) ?? [];
}

/**
 * Injects the event payload, or one of its keys, into a handler parameter. A parameter typed `number`,
 * `string` or `boolean` is type-checked; one typed with a class-validator DTO is validated. A missing key is
 * refused (`invalid_payload`). The keys events may never carry (`__proto__`, `constructor`, `prototype`) are refused
 * where the handler is declared.
 *
 * Nest pipes may follow, as with `@Body('id', ParseIntPipe)`: instances, or classes (instantiated once at startup
 * through Nest's injector, so an `@Injectable()` pipe gets its dependencies). They run in order after the type
 * check, each with `{ type: 'body', metatype: <the parameter's type>, data: key }`, and may be async; the last one's
 * result is the argument. A pipe that throws an `HttpException` of status 400 or 422 (`BadRequestException`, a
 * `ValidationPipe`'s error) refuses the event with `invalid_payload`, its message(s) in `details`; any other throw
 * is a `handler_error`. This runs on every tier, `none` included: on `full` where Nest runs a controller's parameter
 * pipes (after the handler's guards, interceptors and `@UsePipes` pipes, so a client the guards refuse reaches no
 * pipe), on the other tiers before the state is locked. Without pipes nothing more runs.
 * @param key the payload key to inject; omit it (or pass a pipe first) for the whole payload.
 * @param pipes pipes to run over the value, in order.
 * @example
 * ```ts
 * @EventHandler() add(@Payload('id') id: number) {}
 * @EventHandler() setQty(@Payload('qty', ParseIntPipe, new RangePipe(1, 99)) qty: number) {}
 * @EventHandler() save(@Payload(new ValidationPipe({ whitelist: true })) form: ProfileDto) {}
 * ```
 * @publicApi
 */
export function Payload(key?: string, ...pipes: PayloadPipe[]): ParameterDecorator;
export function Payload(...pipes: PayloadPipe[]): ParameterDecorator;
export function Payload(keyOrPipe?: string | PayloadPipe, ...pipes: PayloadPipe[]): ParameterDecorator {
  // `@Payload(SomePipe)`: no key, the first argument is a pipe (as Nest's `@Body(ValidationPipe)`).
  if (keyOrPipe !== undefined && typeof keyOrPipe !== 'string') return eventParam('payload', undefined, [keyOrPipe, ...pipes].map(checkPipe));
  // The wire refuses these keys in every payload (they could reach a prototype): such a handler could never run.
  if (keyOrPipe !== undefined && isForbiddenKey(keyOrPipe)) {
    throw new Error(`@Payload('${keyOrPipe}'): events carrying the key "${keyOrPipe}" are refused, so this handler could never be called; name the key otherwise.`);
  }
  return eventParam('payload', keyOrPipe, pipes.map(checkPipe));
}

/**
 * Injects the bridged request (the synthetic Express request of this event). Only on `auth_only` and `full`
 * tiers; in `smart` mode, asking for it makes the state bridge-aware.
 * @example
 * ```ts
 * import type { Request } from 'express';
 *
 * @EventHandler() where(@EventRequest() req: Request) { this.path = req.path; }
 * ```
 * @publicApi
 */
export function EventRequest(): ParameterDecorator {
  return eventParam('request');
}

/**
 * Injects the authenticated user (`req.user`), or `undefined` for anonymous requests.
 * @example
 * ```ts
 * @EventHandler() greet(@EventUser() user?: User) { this.greeting = `Hi ${user?.name ?? 'there'}`; }
 * ```
 * @publicApi
 */
export function EventUser(): ParameterDecorator {
  return eventParam('user');
}

/**
 * Injects the request's session (`req.session`).
 * @example
 * ```ts
 * @EventHandler() remember(@EventSession() session: { seen?: boolean }) { session.seen = true; }
 * ```
 * @publicApi
 */
export function EventSession(): ParameterDecorator {
  return eventParam('session');
}

/**
 * Injects the page's route params (the `page.params` of the root `router` var): one argument of the route, or
 * all of them. For an {@link OnLoad} handler they are the arguments of the route that matched, e.g. `id` of
 * `/product/[id]` (a string) or `splat` of a catch-all (a list of segments), merged over the page's query. For
 * other handlers they are what the client sent as the page's query and params. They are client input: a
 * parameter typed `string` or `number` is type-checked (`invalid_payload` otherwise); a missing one is `undefined`.
 * @example
 * ```ts
 * @OnLoad('/product/[id]') show(@RouteParam('id') id: string) {}
 * ```
 * @publicApi
 */
export function RouteParam(key?: string): ParameterDecorator {
  return eventParam('route', key);
}

/**
 * Makes the handler an upload handler in buffered mode, and injects the uploaded files: an `UploadFile[]`, in the
 * order sent, each in a temp file on disk (removed when the handler ends unless moved with `moveTo`). The browser
 * posts the files to `POST <prefix>/_upload`; the handler runs on the client's queue under its state lock like any
 * event, at least on the `auth_only` tier, and its deltas stream back in the upload's NDJSON answer.
 * `@Payload(...)` parameters receive the form's `__reflex_event_args`. Only handlers with an upload parameter
 * accept uploads, and they accept nothing else: a socket event to one is refused.
 * @example
 * ```ts
 * @EventHandler() async attachImage(@EventUploads() files: UploadFile[], @Payload('productId') productId: number) {
 *   await files[0].moveTo(join(uploadDir, `${productId}.png`));
 * }
 * ```
 * @publicApi
 */
export function EventUploads(): ParameterDecorator {
  return eventParam('uploads');
}

/**
 * Makes the handler an upload handler in streaming mode, and injects an `UploadChunkIterator`: each file's bytes as
 * they arrive, in bounded chunks (`{ filename, offset, contentType, data }`), the request paused while the handler
 * is behind. Nothing is stored on disk. The upload is answered `202 {}` once the whole request was read and the
 * handler ended; its deltas go over the socket. A client that goes away makes the loop throw `UploadAbortedError`.
 * @example
 * ```ts
 * @EventHandler() async importRows(@EventUploadChunks() chunks: UploadChunkIterator) {
 *   for await (const chunk of chunks) this.bytes += chunk.data.length;
 * }
 * ```
 * @publicApi
 */
export function EventUploadChunks(): ParameterDecorator {
  return eventParam('upload-chunks');
}

/**
 * Injects the upload's `AbortSignal`, on a handler with an upload parameter (`@EventUploads()` or
 * `@EventUploadChunks()`; anywhere else it is refused at startup). It fires when the upload is cancelled: the HTTP
 * client went away (`signal.reason` is an `UploadAbortedError`), or the client's state lock could not be kept while
 * the handler ran (a `BridgeError` with code `state_lock_lost`). Pass it on to what the handler awaits (`fetch`,
 * `stream.pipeline`, timers) or check `signal.aborted`; a handler that ignores it runs to its end, and what it
 * saves while its lock holds is kept. A streaming handler's `for await` loop also throws when the upload is cancelled.
 * @example
 * ```ts
 * @EventHandler()
 * async importCsv(@EventUploads() files: UploadFile[], @EventUploadSignal() signal: AbortSignal) {
 *   await pipeline(files[0].stream(), parser, { signal });
 * }
 * ```
 * @publicApi
 */
export function EventUploadSignal(): ParameterDecorator {
  return eventParam('upload-signal');
}
