import { isDeepStrictEqual } from 'node:util';
import { isBackendVar, type StateDefinition } from './state-definition.js';
import { varKey } from '../protocol/state-naming.js';

/** The computed var being evaluated records the vars it reads here. */
let tracking: Set<string> | null = null;

function cloneValue(value: unknown): unknown {
  return value !== null && typeof value === 'object' ? structuredClone(value) : value;
}

/** Where a view's target points back to its view (own property of each per-event target). */
const VIEW = Symbol('reflex-bridge:state-view');

type ViewTarget = Record<string | symbol, unknown> & { [VIEW]: StateView };

/**
 * Where a state's definition keeps its views' prototype, built on the first view: a property of the definition,
 * which every view reads anyway, rather than a `WeakMap`, whose hash table is one more thing each event reads.
 */
const ACCESSOR_PROTOTYPE = Symbol('reflex-bridge:accessor-prototype');

type WithAccessorPrototype = StateDefinition & { [ACCESSOR_PROTOTYPE]?: object };

/** Per state class, built once: inherits from the Nest singleton and routes each var to the target's view. */
function accessorPrototypeOf(definition: WithAccessorPrototype): object {
  let prototype = definition[ACCESSOR_PROTOTYPE];
  if (!prototype) {
    prototype = Object.create(definition.instance) as object;
    for (const name of definition.vars.keys()) {
      Object.defineProperty(prototype, name, {
        enumerable: true,
        configurable: false,
        get(this: ViewTarget) {
          return this[VIEW].read(name);
        },
        set(this: ViewTarget, value: unknown) {
          this[VIEW].write(name, value);
        },
      });
    }
    definition[ACCESSOR_PROTOTYPE] = prototype;
  }
  return prototype;
}

/**
 * One client's state of one class, for the length of one event. The handler runs with `this` bound to
 * {@link StateView.target}: an object whose prototype chain holds the var accessors and then the Nest
 * singleton (so injected services and methods resolve). The accessors are built once per class, so a new
 * view costs one object, not one property definition per var.
 *
 * Vars are copied lazily, on first read or write, so an event that touches one var never pays for the
 * others (a 10,000-row list left alone costs nothing). Only touched vars are compared for the delta.
 */
export class StateView {
  readonly target: Record<string, unknown>;
  /** The vars touched in this step, with their working values; made on the first touch (many steps touch none). */
  private values: Map<string, unknown> | undefined = undefined;
  private base: Record<string, unknown>;

  constructor(
    readonly definition: StateDefinition,
    stored: Record<string, unknown> | undefined,
  ) {
    this.base = stored ?? {};
    const target = Object.create(accessorPrototypeOf(definition)) as ViewTarget;
    target[VIEW] = this;
    this.target = target;
  }

  /** @internal The var accessors' getter: a lazy copy of the stored value, recorded for computed vars. */
  read(name: string): unknown {
    if (tracking) tracking.add(name);
    let values = this.values;
    if (values === undefined) this.values = values = new Map();
    else if (values.has(name)) return values.get(name);
    const value = cloneValue(this.storedValue(name));
    values.set(name, value);
    return value;
  }

  /**
   * @internal The var's current value without the copy {@link read} makes: the working value when the var was
   * touched, else the stored one. For readers that never mutate it (they build a new value instead), so
   * unchanged elements keep their identity, and the size meter and the next reader see them as known.
   */
  peek(name: string): unknown {
    const values = this.values;
    return values !== undefined && values.has(name) ? values.get(name) : this.storedValue(name);
  }

  /** @internal The var accessors' setter. */
  write(name: string, value: unknown): void {
    (this.values ??= new Map()).set(name, value);
  }

  /** The vars whose values differ from the stored state (deep comparison, touched vars only). */
  changes(): Record<string, unknown> {
    const changed: Record<string, unknown> = {};
    if (this.values === undefined) return changed;
    for (const [name, value] of this.values) {
      const before = this.storedValue(name);
      if (value === before) continue;
      if (typeof value === 'object' && value !== null && isDeepStrictEqual(value, before)) continue;
      changed[name] = value;
    }
    return changed;
  }

  /** After a commit: the committed vars become the new baseline, so the next step diffs from there. */
  rebase(committed: Record<string, unknown>): void {
    this.base = committed;
    // Drop the working copies: they equal the committed values, and reading again re-clones them, so a
    // caller that mutates a value it already holds cannot change the committed state behind our back. The next
    // touch makes a new map (less than `clear()`, which calls into V8's runtime).
    this.values = undefined;
  }

  /** Every var, for hydrate: the stored value, or the initial one for a var the store has not seen. */
  allVars(): Record<string, unknown> {
    const all: Record<string, unknown> = {};
    for (const name of this.definition.vars.keys()) all[name] = this.storedValue(name);
    return all;
  }

  /**
   * Evaluates computed vars (all of them, or those depending on `changed`), recording their inputs. A getter that
   * throws (the app's code on one client's values: a division by zero, a field of `undefined`) is left out of the
   * result and handed to `failed`: the other computed vars, and the vars the event changed, still reach the client,
   * rather than one getter's error dropping the whole delta of a change already saved (or failing every hydrate).
   * Without `failed` the error is thrown, as before.
   */
  computedValues(changed?: Iterable<string>, failed?: (name: string, error: unknown) => void): Record<string, unknown> {
    const changedSet = changed ? new Set(changed) : undefined;
    const result: Record<string, unknown> = {};
    for (const [name, getter] of this.definition.computed) {
      const deps = this.definition.computedDeps.get(name);
      if (changedSet && deps && ![...deps].some((dep) => changedSet.has(dep))) continue;
      const previous = tracking;
      const reads = new Set<string>();
      tracking = reads;
      try {
        result[name] = getter.call(this.target);
      } catch (error) {
        if (!failed) throw error;
        failed(name, error);
      } finally {
        tracking = previous;
      }
      // Recorded when it threw too: the vars it read before throwing are the ones whose change may mend it.
      const known = deps ?? new Set<string>();
      for (const read of reads) known.add(read);
      this.definition.computedDeps.set(name, known);
    }
    return result;
  }

  private storedValue(name: string): unknown {
    // One lookup for a var the state holds (the usual case); `in` only tells a stored `undefined` from a missing var.
    const value = this.base[name];
    return value !== undefined || name in this.base ? value : this.definition.vars.get(name);
  }
}

/**
 * Reads var `name` of a view target (`this` of a handler, the state a `modify` callback gets) without copying
 * it; on any other object, its property. The caller must treat the value as read-only: assign a new value to
 * change the var. Live lists use it so that a change to a long list does not copy every row for each client.
 */
export function peekVar(target: object, name: string): unknown {
  const view = (target as Partial<ViewTarget>)[VIEW];
  return view ? view.peek(name) : (target as Record<string, unknown>)[name];
}

/** Wire keys by var name (`count` → `count_rx_state_`), `null` for backend-only vars. Var names are few. */
const wireKeys = new Map<string, string | null>();

/** Turns `{var: value}` into the wire form `{var_rx_state_: value}`, dropping backend-only vars. */
export function toWireVars(vars: Record<string, unknown>): Record<string, unknown> {
  const wire: Record<string, unknown> = {};
  for (const name in vars) {
    let key = wireKeys.get(name);
    if (key === undefined) {
      key = isBackendVar(name) ? null : varKey(name);
      wireKeys.set(name, key);
    }
    if (key !== null) wire[key] = vars[name];
  }
  return wire;
}
