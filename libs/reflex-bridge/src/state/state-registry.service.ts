import { Injectable, Logger, type OnModuleInit, type Type } from '@nestjs/common';
import { DiscoveryService, Reflector } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import { StateMetadata, type StateOptions } from './state.decorator.js';
import { EventHandlerMetadata } from './event-handler.decorator.js';
import { getEventParams, uploadModeOf } from './event-param.decorator.js';
import type { HandlerDefinition, StateDefinition } from './state-definition.js';
import { isValidStateName, ROOT_STATE_NAME, toSnakeCase } from '../protocol/state-naming.js';
import { isBaseStatePrototype } from './base-state.registry.js';

function isPlainData(value: unknown): boolean {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return true;
  if (Array.isArray(value)) return true;
  if (typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isGeneratorFunction(fn: unknown): boolean {
  const tag = typeof fn === 'function' ? fn.constructor?.name : '';
  return tag === 'GeneratorFunction' || tag === 'AsyncGeneratorFunction';
}

/** The first provider in `wrapper`'s dependency tree that is not a singleton (request-scoped, or depending on one). */
function scopedDependency(wrapper: InstanceWrapper, seen = new Set<InstanceWrapper>()): InstanceWrapper | undefined {
  if (seen.has(wrapper)) return undefined;
  seen.add(wrapper);
  const dependencies = [...(wrapper.getCtorMetadata?.() ?? []), ...(wrapper.getPropertiesMetadata?.() ?? []).map((property) => property.wrapper)];
  for (const dependency of dependencies) {
    if (!dependency || dependency.isDependencyTreeStatic()) continue;
    return scopedDependency(dependency, seen) ?? dependency;
  }
  return undefined;
}

/**
 * Refuses a state class Nest cannot make once: one request-scoped (or depending on a request-scoped provider) has no
 * singleton, so the registry would find no instance, no vars and no services, and its handlers would run with
 * `undefined` services and answer nothing.
 */
function refuseScoped(cls: Type, wrapper: InstanceWrapper): void {
  if (wrapper.isDependencyTreeStatic()) return;
  const culprit = scopedDependency(wrapper);
  const why = culprit ? `it depends on ${String(culprit.name)}, which is request-scoped or depends on a request-scoped provider` : 'it is request-scoped itself';
  throw new Error(
    `State ${cls.name} cannot be used: ${why}. A state class is one Nest singleton that every client's events run on; ` +
      'read the request in a handler with @EventRequest() instead, or resolve the scoped provider there with ModuleRef.resolve().',
  );
}

/**
 * Every `@State()` class of the app, found among the Nest providers at bootstrap, with its vars, computed
 * vars and handlers. Looks handlers up by the full name clients send.
 */
@Injectable()
export class StateRegistry implements OnModuleInit {
  private readonly logger = new Logger('ReflexBridge');
  private readonly byClass = new Map<Type, StateDefinition>();
  private readonly byFullName = new Map<string, StateDefinition>();
  private readonly handlers = new Map<string, HandlerDefinition>();
  /** The last handler found, by the name it was asked for (see {@link findHandler}). */
  private lastFound: { name: string; handler: HandlerDefinition } | undefined = undefined;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly reflector: Reflector,
  ) {}

  onModuleInit(): void {
    const wrappers = this.discovery
      .getProviders()
      .filter((wrapper) => wrapper.metatype && this.reflector.get(StateMetadata, wrapper.metatype as Type));
    const pending = new Map(wrappers.map((wrapper) => [wrapper.metatype as Type, wrapper]));
    for (const wrapper of wrappers) this.define(wrapper.metatype as Type, pending, []);
    this.logger.log(`Registered ${this.byClass.size} state class(es) with ${this.handlers.size} event handler(s)`);
  }

  /** All states, parents before children. */
  states(): StateDefinition[] {
    return [...this.byFullName.values()];
  }

  /** Every handler clients may call. */
  handlerDefinitions(): Iterable<HandlerDefinition> {
    return this.handlers.values();
  }

  /** The state with this full name, if registered. */
  stateByFullName(fullName: string): StateDefinition | undefined {
    return this.byFullName.get(fullName);
  }

  /** The handler clients address by `fullName`, or `undefined` (unknown, private or unmarked). */
  findHandler(fullName: string): HandlerDefinition | undefined {
    // Each event's name is a new string, which a map lookup first hashes, character by character. Events mostly
    // come in runs of one name, and comparing with the last name found costs a fraction of that.
    const last = this.lastFound;
    if (last !== undefined && last.name === fullName) return last.handler;
    const handler = this.handlers.get(fullName);
    if (handler !== undefined) this.lastFound = { name: handler.fullName, handler };
    return handler;
  }

  /** The definition of a state class; throws when the class is not a registered state. */
  definitionOf(cls: Type | (abstract new (...args: never[]) => object)): StateDefinition {
    const definition = this.byClass.get(cls as Type);
    if (!definition) throw new Error(`${cls.name} is not a registered @State() provider`);
    return definition;
  }

  private define(cls: Type, pending: Map<Type, InstanceWrapper>, visiting: Type[]): StateDefinition {
    const known = this.byClass.get(cls);
    if (known) return known;
    if (visiting.includes(cls)) throw new Error(`State parents form a cycle: ${[...visiting, cls].map((c) => c.name).join(' → ')}`);
    const wrapper = pending.get(cls);
    if (!wrapper) throw new Error(`${cls.name} is used as a parent state but is not registered as a provider`);
    refuseScoped(cls, wrapper);
    const options: StateOptions = this.reflector.get(StateMetadata, cls) ?? {};
    const name = options.name ?? toSnakeCase(cls.name);
    if (!isValidStateName(name)) throw new Error(`State ${cls.name}: "${name}" is not a valid state name`);
    const parentClass = options.parent?.();
    const parentFullName = parentClass ? this.define(parentClass, pending, [...visiting, cls]).fullName : ROOT_STATE_NAME;
    const fullName = `${parentFullName}.${name}`;
    if (this.byFullName.has(fullName)) throw new Error(`Two state classes are named ${fullName}`);

    const instance = wrapper.instance as Record<string, unknown>;
    const definition: StateDefinition = {
      cls,
      name,
      fullName,
      instance,
      vars: this.findVars(wrapper, instance),
      computed: this.findComputed(cls),
      computedDeps: new Map(),
      handlers: new Map(),
    };
    for (const method of this.findHandlerMethods(cls)) {
      const fn = cls.prototype[method] as (...args: unknown[]) => unknown;
      // Copies: a parameter's pipe instances are this app's (see payload-pipes.ts), the decorator's metadata is the class's.
      const params = getEventParams(cls.prototype, method).map((param) => ({ ...param }));
      const handler: HandlerDefinition = {
        fullName: `${fullName}.${method}`,
        method,
        state: definition,
        options: this.reflector.get(EventHandlerMetadata, fn) ?? {},
        params,
        paramTypes: Reflect.getMetadata('design:paramtypes', cls.prototype, method) ?? [],
        streaming: isGeneratorFunction(fn),
        upload: uploadModeOf(params, `${cls.name}.${method}`),
      };
      definition.handlers.set(method, handler);
      this.handlers.set(handler.fullName, handler);
    }
    this.byClass.set(cls, definition);
    this.byFullName.set(fullName, definition);
    return definition;
  }

  /**
   * Vars are the singleton's own fields holding plain data. Injected services (constructor or property
   * injection) are excluded by identity, and anything that is not plain data (class instances, functions)
   * is never a var, so it is never serialised.
   */
  private findVars(wrapper: InstanceWrapper, instance: Record<string, unknown>): Map<string, unknown> {
    const injected = new Set<unknown>(wrapper.getCtorMetadata?.()?.map((dep) => dep.instance) ?? []);
    const injectedKeys = new Set((wrapper.getPropertiesMetadata?.() ?? []).map((prop) => String(prop.key)));
    const vars = new Map<string, unknown>();
    for (const [key, value] of Object.entries(instance)) {
      if (injectedKeys.has(key) || injected.has(value) || !isPlainData(value)) continue;
      vars.set(key, value);
    }
    return vars;
  }

  /** Getters declared on the state class and its own ancestors (library base classes excluded). */
  private findComputed(cls: Type): Map<string, (this: object) => unknown> {
    const computed = new Map<string, (this: object) => unknown>();
    for (let proto = cls.prototype; proto && proto !== Object.prototype && !isBaseStatePrototype(proto); proto = Object.getPrototypeOf(proto)) {
      for (const [key, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(proto))) {
        if (descriptor.get && !computed.has(key) && !key.startsWith('_')) computed.set(key, descriptor.get);
      }
    }
    return computed;
  }

  /**
   * Methods marked `@EventHandler()` on the class or its ancestors; `_` names are never callable. Only the
   * definition that runs counts (the most derived): guards, pipes and tiers are read from it, so an undecorated
   * override of a base handler is no handler, as an undecorated override of a Nest route is no route.
   */
  private findHandlerMethods(cls: Type): string[] {
    const methods = new Set<string>();
    const seen = new Set<string>();
    for (let proto = cls.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
      for (const key of Object.getOwnPropertyNames(proto)) {
        if (key === 'constructor' || key.startsWith('_') || seen.has(key)) continue;
        seen.add(key);
        const descriptor = Object.getOwnPropertyDescriptor(proto, key);
        if (typeof descriptor?.value === 'function' && this.reflector.get(EventHandlerMetadata, descriptor.value)) {
          methods.add(key);
        }
      }
    }
    return [...methods];
  }
}
