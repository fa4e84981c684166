import { plainToInstance } from 'class-transformer';
import { validate, type ValidationError } from 'class-validator';
import { BridgeError } from '../protocol/bridge-error.js';
import type { HandlerDefinition } from './state-definition.js';
import type { EventParamDefinition } from './event-param.decorator.js';

/** What a handler's decorated parameters can receive besides the payload. */
export interface HandlerArgumentSources {
  payload: Record<string, unknown>;
  request?: { user?: unknown; session?: unknown; loadSession?: () => Promise<unknown> };
}

const PRIMITIVES = new Map<unknown, string>([
  [Number, 'number'],
  [String, 'string'],
  [Boolean, 'boolean'],
]);

function isDtoClass(type: unknown): type is new () => object {
  return typeof type === 'function' && !PRIMITIVES.has(type) && type !== Object && type !== Array && type !== Function;
}

function flatten(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((error) => {
    const path = prefix + error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => `${path}: ${message}`);
    return [...own, ...flatten(error.children ?? [], `${path}.`)];
  });
}

async function coerce(value: unknown, type: unknown, label: string): Promise<unknown> {
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
    const instance = plainToInstance(type, value);
    const errors = await validate(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false });
    if (errors.length) throw new BridgeError('invalid_payload', `${label} failed validation.`, flatten(errors));
    return instance;
  }
  return value;
}

/**
 * Builds a handler's argument list: the payload (whole, or one key with `@Payload('key')`), validated
 * against the parameter's type (a class-validator DTO, or `number` / `string` / `boolean`), and the request,
 * user or session for the parameters that ask for them. Throws `invalid_payload` before the handler runs.
 */
export async function resolveHandlerArguments(handler: HandlerDefinition, sources: HandlerArgumentSources): Promise<unknown[]> {
  const params: EventParamDefinition[] = handler.params.length ? handler.params : [{ index: 0, kind: 'payload' }];
  const args: unknown[] = [];
  for (const param of params) {
    switch (param.kind) {
      case 'payload': {
        const value = param.key === undefined ? sources.payload : sources.payload[param.key];
        const label = param.key === undefined ? 'payload' : `payload.${param.key}`;
        if (param.key !== undefined && value === undefined) {
          throw new BridgeError('invalid_payload', `${label} is required.`, [`${label}: missing`]);
        }
        args[param.index] = await coerce(value, handler.paramTypes[param.index], label);
        break;
      }
      case 'request':
        args[param.index] = sources.request;
        break;
      case 'user':
        args[param.index] = sources.request?.user;
        break;
      case 'session':
        // On the fast-auth path the session is lazy: asking for it loads it.
        args[param.index] = sources.request?.loadSession ? await sources.request.loadSession() : sources.request?.session;
        break;
    }
  }
  return args;
}
