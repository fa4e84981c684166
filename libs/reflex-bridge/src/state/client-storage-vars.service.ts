import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { BridgeError } from '../protocol/bridge-error.js';
import { varKey } from '../protocol/state-naming.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import type { StoredState } from './store/state-store.js';
import { isBackendVar, type StateDefinition } from './state-definition.js';
import { StateRegistry } from './state-registry.service.js';
import { getClientStorage, type ClientStorageDeclaration, type ClientStorageKind } from './client-storage.decorator.js';

/** One declared client storage var. */
interface StorageVar {
  readonly definition: StateDefinition;
  readonly name: string;
  readonly declaration: ClientStorageDeclaration;
}

/**
 * The client storage map of a Reflex frontend (its compiled `clientStorage`): for each kind, the declared vars
 * by wire name (`<full state name>.<var>_rx_state_`) with their options. The browser key is `options.name`, or
 * the wire name when there is none.
 */
export type ClientStorageMap = Record<ClientStorageKind, Record<string, Readonly<Record<string, unknown>>>>;

/** Client storage values to apply, per state: var name → value. */
export type ClientStorageUpdate = Map<StateDefinition, Record<string, string>>;

/**
 * The vars declared with `@Cookie`, `@LocalStorage` and `@SessionStorage`: checks them at startup, reads the
 * values a client sends in `update_vars_internal` (only declared vars, strings only, bounded), and resets them at
 * hydration, as Reflex does, so a value the browser dropped is dropped on the server too. Inject it to hand a
 * frontend the client storage map ({@link ClientStorageVars.map}).
 * @publicApi
 */
@Injectable()
export class ClientStorageVars implements OnApplicationBootstrap {
  private readonly logger = new Logger('ReflexBridge');
  private byWireName: Map<string, StorageVar> | undefined;
  private byState: Map<StateDefinition, StorageVar[]> | undefined;

  constructor(
    private readonly registry: StateRegistry,
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
  ) {}

  /** Reads the decorators once every state is registered, so a misplaced one fails the startup. */
  onApplicationBootstrap(): void {
    const count = this.vars().size;
    if (count > 0) this.logger.log(`Registered ${count} client storage var(s)`);
  }

  /** True when some state declares client storage vars. */
  get any(): boolean {
    return this.vars().size > 0;
  }

  /**
   * The client storage map, in the shape of a Reflex frontend's compiled `clientStorage` (the object its
   * `state.js` reads, and the `clientStorage` option of `@reflex-bridge/client`).
   */
  map(): ClientStorageMap {
    const map: ClientStorageMap = { cookies: {}, local_storage: {}, session_storage: {} };
    for (const [wireName, entry] of this.vars()) map[entry.declaration.kind][wireName] = { ...entry.declaration.options };
    return map;
  }

  /**
   * Reads the `vars` of an `update_vars_internal` payload: `{ "<full state name>.<var>_rx_state_": "value" }`.
   * Names that are not declared client storage vars are ignored (as Reflex ignores them); `null` (a key another
   * tab removed) sets the var back to its initial value. A declared var with any other value that is not a string, or longer than `maxClientStorageValueLength`, refuses the whole event with
   * `invalid_payload`: nothing is applied.
   */
  parse(payload: Record<string, unknown>): ClientStorageUpdate {
    const update: ClientStorageUpdate = new Map();
    const vars = payload['vars'];
    if (vars === undefined || vars === null) return update;
    if (typeof vars !== 'object' || Array.isArray(vars)) {
      throw new BridgeError('invalid_payload', 'update_vars_internal takes "vars": an object of client storage values by var name.');
    }
    const known = this.vars();
    if (known.size === 0) return update;
    const limit = this.options.maxClientStorageValueLength;
    const problems: string[] = [];
    for (const wireName of Object.keys(vars)) {
      const entry = known.get(wireName);
      if (!entry) continue;
      let value = (vars as Record<string, unknown>)[wireName];
      // `null`: another tab removed the key (a storage event's newValue); the var goes back to its initial value.
      if (value === null) value = entry.definition.vars.get(entry.name);
      if (typeof value !== 'string') {
        problems.push(`${wireName}: expected a string, got ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}`);
      } else if (value.length > limit) {
        problems.push(`${wireName}: longer than ${limit} characters`);
      } else {
        let values = update.get(entry.definition);
        if (!values) update.set(entry.definition, (values = Object.create(null) as Record<string, string>));
        values[entry.name] = value;
      }
      if (problems.length >= 10) break;
    }
    if (problems.length > 0) {
      throw new BridgeError('invalid_payload', 'Client storage values must be strings within the size limit; none were applied.', problems);
    }
    return update;
  }

  /**
   * The tree with every stored client storage var back at its initial value (hydration: the client sends the
   * browser's values next). Returns `state` itself when nothing differs.
   */
  reset(state: StoredState): StoredState {
    let result = state;
    for (const [definition, entries] of this.states()) {
      const stored = result[definition.fullName];
      if (!stored) continue;
      let next: Record<string, unknown> | undefined;
      for (const { name } of entries) {
        const initial = definition.vars.get(name);
        if (Object.hasOwn(stored, name) && stored[name] !== initial) {
          next ??= Object.assign({}, stored);
          next[name] = initial;
        }
      }
      if (next) {
        if (result === state) result = Object.assign({}, state);
        result[definition.fullName] = next;
      }
    }
    return result;
  }

  private vars(): Map<string, StorageVar> {
    if (!this.byWireName) this.build();
    return this.byWireName!;
  }

  private states(): Map<StateDefinition, StorageVar[]> {
    if (!this.byState) this.build();
    return this.byState!;
  }

  private build(): void {
    const byWireName = new Map<string, StorageVar>();
    const byState = new Map<StateDefinition, StorageVar[]>();
    // Per browser store, the var kept under each name: one cookie (or key) holding two vars would mix their values.
    const byStoredName = new Map<string, string>();
    for (const definition of this.registry.states()) {
      const declarations = getClientStorage(definition.cls);
      for (const name of Object.keys(declarations)) {
        const where = `${definition.cls.name}.${name}`;
        if (isBackendVar(name)) throw new Error(`${where}: a backend var (its name starts with "_") never reaches the browser, so it cannot be kept there`);
        if (!definition.vars.has(name)) throw new Error(`${where}: client storage decorators belong on vars (fields with a plain initial value)`);
        if (typeof definition.vars.get(name) !== 'string') throw new Error(`${where}: client storage vars hold strings, as in the browser; give it a string initial value`);
        const entry: StorageVar = { definition, name, declaration: declarations[name]! };
        const wireName = `${definition.fullName}.${varKey(name)}`;
        const { kind } = entry.declaration;
        const stored = entry.declaration.options.name ?? wireName;
        const other = byStoredName.get(`${kind}\0${stored}`);
        if (other) throw new Error(`${other} and ${where} are both kept in ${kind.replace('_', ' ')} as "${stored}": give one of them another name`);
        byStoredName.set(`${kind}\0${stored}`, where);
        byWireName.set(wireName, entry);
        const list = byState.get(definition) ?? [];
        list.push(entry);
        byState.set(definition, list);
      }
    }
    this.byWireName = byWireName;
    this.byState = byState;
  }
}
