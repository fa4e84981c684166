import { BridgeError } from '../protocol/bridge-error.js';
import type { HandlerDefinition } from './state-definition.js';
import type { EventParamDefinition } from './event-param.decorator.js';
import { isPromise, type MaybePromise } from '../common/maybe-promise.js';
import { runPayloadPipes, type PipeRunRecorder } from './payload-pipes.js';
import { validateDto } from './dto-validation.js';

/** What a handler's decorated parameters can receive besides the payload. */
export interface HandlerArgumentSources {
  payload: Record<string, unknown>;
  /** The page's params (`router_data.query`, with an on-load route's arguments merged in). */
  params?: Record<string, unknown>;
  request?: { user?: unknown; session?: unknown; loadSession?: () => Promise<unknown> };
  /**
   * What an `@EventUploads()` / `@EventUploadChunks()` parameter receives (the files, or the chunk iterator): given
   * by the upload route only, opaque here. Without it an upload parameter refuses the event.
   */
  upload?: unknown;
  /** What an `@EventUploadSignal()` parameter receives: the upload's cancellation signal (upload route only). */
  uploadSignal?: AbortSignal;
  /**
   * The handler is called through its Nest enhancers (the `full` tier), which run the `@Payload(key, ...pipes)`
   * pipes after its guards and interceptors, as Nest runs a controller's parameter pipes: left out here.
   */
  pipesInEnhancers?: boolean;
  /** Told of each `@Payload` pipe's run (devtools), when the pipes run here. */
  pipeRecorder?: PipeRunRecorder;
}

/**
 * A `full`-tier event's arguments, not resolved yet: its handler's Nest call resolves them from `sources` (the type
 * and DTO checks, then the pipes) after its guards and interceptors, where Nest runs a controller's pipes. So a
 * client the guards refuse is told `forbidden` whatever it sent: it learns nothing of the handler's input shape (no
 * field names or constraints in `invalid_payload` details), and its payload costs no validation.
 */
export interface PendingArguments {
  readonly pending: HandlerArgumentSources;
}

const PRIMITIVES = new Map<unknown, string>([
  [Number, 'number'],
  [String, 'string'],
  [Boolean, 'boolean'],
]);

function isDtoClass(type: unknown): type is new () => object {
  return typeof type === 'function' && !PRIMITIVES.has(type) && type !== Object && type !== Array && type !== Function;
}

/** Checks a payload value against its declared type: synchronous except for DTO validation. */
function coerce(value: unknown, type: unknown, label: string): MaybePromise<unknown> {
  const primitive = PRIMITIVES.get(type);
  if (primitive) {
    if (typeof value !== primitive) {
      throw new BridgeError('invalid_payload', `${label} must be a ${primitive}.`, [`${label}: expected ${primitive}, got ${value === null ? 'null' : typeof value}`]);
    }
    return value;
  }
  if (type === Array && !Array.isArray(value)) {
    throw new BridgeError('invalid_payload', `${label} must be an array.`);
  }
  if (isDtoClass(type)) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new BridgeError('invalid_payload', `${label} must be an object.`);
    }
    return validateDto(type, value, label);
  }
  return value;
}

/**
 * Builds a handler's argument list: the payload (whole, or one key with `@Payload('key')`), validated
 * against the parameter's type (a class-validator DTO, or `number` / `string` / `boolean`) then run through the
 * parameter's `@Payload(key, ...pipes)` pipes (unless `pipesInEnhancers`), and the request,
 * user or session for the parameters that ask for them. Throws `invalid_payload` before the handler runs.
 * Synchronous unless a DTO is validated, a pipe answers a promise or a lazy session is loaded; parameters resolve in order either way.
 */
export function resolveHandlerArguments(handler: HandlerDefinition, sources: HandlerArgumentSources): MaybePromise<unknown[]> {
  if (handler.params.length) return resolveFrom(0, handler.params, handler, sources, []);
  // No decorated parameter: the whole payload, checked against the first parameter's type when it declares one.
  const type = handler.paramTypes[0];
  if (type === undefined) return [sources.payload];
  return resolveFrom(0, [{ index: 0, kind: 'payload' }], handler, sources, []);
}

function resolveFrom(first: number, params: EventParamDefinition[], handler: HandlerDefinition, sources: HandlerArgumentSources, args: unknown[]): MaybePromise<unknown[]> {
  for (let i = first; i < params.length; i++) {
    const param = params[i];
    const value = argumentFor(param, handler, sources);
    if (isPromise(value)) {
      return value.then((resolved) => {
        args[param.index] = resolved;
        return resolveFrom(i + 1, params, handler, sources, args);
      });
    }
    args[param.index] = value;
  }
  return args;
}

/** The refusal of an event for a handler that takes an upload: files arrive over `POST <prefix>/_upload` only. */
export function uploadOnlyMessage(handler: Pick<HandlerDefinition, 'fullName'>): string {
  return `${handler.fullName} takes an upload: send it as a POST to the _upload route, not as an event.`;
}

function argumentFor(param: EventParamDefinition, handler: HandlerDefinition, sources: HandlerArgumentSources): MaybePromise<unknown> {
  switch (param.kind) {
    case 'payload': {
      // Own keys only: a key the client left out must not read Object.prototype's member of that name.
      const value = param.key === undefined ? sources.payload : Object.hasOwn(sources.payload, param.key) ? sources.payload[param.key] : undefined;
      const label = param.key === undefined ? 'payload' : `payload.${param.key}`;
      if (param.key !== undefined && value === undefined) {
        throw new BridgeError('invalid_payload', `${label} is required.`, [`${label}: missing`]);
      }
      const type = handler.paramTypes[param.index];
      const checked = coerce(value, type, label);
      if (param.pipes === undefined || sources.pipesInEnhancers) return checked;
      return isPromise(checked) ? checked.then((valid) => runPayloadPipes(param, valid, type, label, sources.pipeRecorder)) : runPayloadPipes(param, checked, type, label, sources.pipeRecorder);
    }
    case 'route': {
      if (param.key === undefined) return sources.params ?? {};
      // Own keys only: the params come from the client, and a name like `constructor` must not reach Object.prototype.
      const params = sources.params;
      const value = params && Object.hasOwn(params, param.key) ? params[param.key] : undefined;
      if (value === undefined) return undefined;
      const label = `route param ${param.key}`;
      // Route arguments are strings on the wire; a parameter typed `number` gets the number a numeric one spells.
      if (handler.paramTypes[param.index] === Number && typeof value === 'string') {
        const number = Number(value);
        if (value.trim() === '' || !Number.isFinite(number)) throw new BridgeError('invalid_payload', `${label} must be a number.`, [`${label}: expected a number, got ${JSON.stringify(value.slice(0, 50))}`]);
        return number;
      }
      return coerce(value, handler.paramTypes[param.index], label);
    }
    case 'uploads':
    case 'upload-chunks':
      // Files arrive over `POST <prefix>/_upload` only: a socket event cannot stand in for them.
      if (sources.upload === undefined) throw new BridgeError('invalid_payload', uploadOnlyMessage(handler));
      return sources.upload;
    case 'upload-signal':
      if (sources.uploadSignal === undefined) throw new BridgeError('invalid_payload', uploadOnlyMessage(handler));
      return sources.uploadSignal;
    case 'request':
      return sources.request;
    case 'user':
      return sources.request?.user;
    case 'session':
      // On the fast-auth path the session is lazy: asking for it loads it.
      return sources.request?.loadSession ? sources.request.loadSession() : sources.request?.session;
  }
}
