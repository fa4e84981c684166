import type { Type } from '@nestjs/common';
import type { EventParamDefinition, HandlerUploadMode } from './event-param.decorator.js';
import type { EventHandlerOptions } from './event-handler.decorator.js';

/** A handler clients may call, as found at bootstrap. */
export interface HandlerDefinition {
  /** `<full state name>.<method>`, the name clients send. */
  readonly fullName: string;
  readonly method: string;
  readonly state: StateDefinition;
  readonly options: EventHandlerOptions;
  /** Decorated parameters; empty means "the payload is the first argument". */
  readonly params: EventParamDefinition[];
  /** `design:paramtypes` of the method, for validation. */
  readonly paramTypes: unknown[];
  /** True when the method is a generator or async generator (streams one delta per yield). */
  readonly streaming: boolean;
  /** How the handler takes uploads (its `@EventUploads()` / `@EventUploadChunks()` parameter); `undefined`: it takes none. */
  readonly upload?: HandlerUploadMode;
}

/** A state class as the registry knows it. */
export interface StateDefinition {
  readonly cls: Type;
  /** The substate name (`counter_state`). */
  readonly name: string;
  /** The full, dotted name from the root (`reflex___state____state.counter_state`). */
  readonly fullName: string;
  /** The Nest singleton: holds the injected services; per-client views inherit from it. */
  readonly instance: object;
  /** Vars and their initial values (deep-cloned into each new client). `_` names are backend-only. */
  readonly vars: ReadonlyMap<string, unknown>;
  /** Computed vars: getters found on the class. */
  readonly computed: ReadonlyMap<string, (this: object) => unknown>;
  /** Vars each computed var read when last evaluated; grows as branches are discovered. */
  readonly computedDeps: Map<string, Set<string>>;
  readonly handlers: Map<string, HandlerDefinition>;
}

/** True for names the wire never carries (backend-only vars). */
export function isBackendVar(name: string): boolean {
  return name.startsWith('_');
}
