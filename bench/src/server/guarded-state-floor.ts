import { isDeepStrictEqual } from 'node:util';
import type { Socket } from 'socket.io';
import { ECHO_STATE, HYDRATE, ON_LOAD_INTERNAL, ROOT } from '../harness/wire.js';
import { problemInEnvelope } from './state-floor.js';

/** The connection budget as the bench apps set it (`bench-rate-limit.ts`: counted, never refusing) and the lock's expiry. */
const BUDGET_LIMIT = Number.MAX_SAFE_INTEGER;
const BUDGET_TTL_MS = 10_000;
const LOCK_TTL_MS = 30_000;

/** A state class as an app writes it: vars with their initial values, and handlers that read and assign them. */
class CounterState {
  count = 0;

  bump(this: CounterState): void {
    this.count++;
  }
}

/** What the floor knows of a state class: its path, its vars' initial values, its handlers by method name. */
interface FloorDefinition {
  path: string;
  initial: Record<string, unknown>;
  handlers: Map<string, (this: object) => unknown>;
  /** The per-event target's prototype: an accessor per var, routing reads and writes to the event's view. */
  accessors: object;
}

/**
 * One event's view of one state: reads copy a stored object lazily (a handler that mutates it in place cannot change
 * the stored state), writes are recorded, and nothing reaches the store before the handler returned.
 */
interface FloorView {
  base: Record<string, unknown>;
  definition: FloorDefinition;
  touched: Map<string, unknown> | undefined;
}

const VIEW = Symbol('view');

function viewOf(target: object): FloorView {
  return (target as { [VIEW]: FloorView })[VIEW];
}

function define(path: string, cls: new () => object): FloorDefinition {
  const initial = { ...(new cls() as Record<string, unknown>) };
  const accessors: Record<string, unknown> = {};
  for (const name of Object.keys(initial)) {
    Object.defineProperty(accessors, name, {
      get(this: object) {
        const view = viewOf(this);
        if (view.touched?.has(name)) return view.touched.get(name);
        const stored = name in view.base ? view.base[name] : view.definition.initial[name];
        const value = stored !== null && typeof stored === 'object' ? structuredClone(stored) : stored;
        (view.touched ??= new Map()).set(name, value);
        return value;
      },
      set(this: object, value: unknown) {
        (viewOf(this).touched ??= new Map()).set(name, value);
      },
    });
  }
  const handlers = new Map<string, (this: object) => unknown>();
  for (const method of Object.getOwnPropertyNames(cls.prototype)) {
    if (method !== 'constructor') handlers.set(method, (cls.prototype as Record<string, (this: object) => unknown>)[method]!);
  }
  return { path, initial, handlers, accessors };
}

const DEFINITIONS = new Map<string, FloorDefinition>([[ECHO_STATE, define(ECHO_STATE, CounterState)]]);

/** A token's lock: held until when (an in-memory lease, as the library's default store takes). */
export interface FloorLock {
  until: number;
}

/** A token's states by path, each its vars. */
export type FloorTree = Record<string, Record<string, unknown>>;

/**
 * The floor of a `none` event with the guarantees the library gives it, written by hand on bare Socket.IO: the
 * plain floor (`state-floor.ts`: validate, route, run, answer) plus what a state server owes its users beyond that.
 * - a per-connection event budget (a fixed window counted on arrival);
 * - state per client token (the tab), not per socket, under a lock with an expiry, and events of one token run one
 *   after another;
 * - handlers written as classes whose vars are read and assigned (`this.count++`), running on a per-event view:
 *   reads copy stored objects lazily, writes are recorded;
 * - a copy-on-write commit: the changed vars (deep comparison for objects) go into a new record and a new tree
 *   only when the handler returned, so a handler that throws leaves the stored state as it was;
 * - the delta of the vars that changed, in wire form.
 * What it leaves out: tiers, guards, metrics, devtools, size limits, router data, follow-up events, async handlers.
 */
export function serveGuardedStateFloor(socket: Socket, trees: Map<string, FloorTree>, locks: Map<string, FloorLock>): void {
  const token = String(socket.handshake.query['token'] ?? socket.id);
  let budgetEndsAt = 0;
  let budgetHits = 0;
  let running = false;
  const waiting: Record<string, unknown>[] = [];
  const budget = { left: 0 };
  const refuse = (code: string, message: string) => socket.emit('bridge_error', { code, message });

  const run = (frame: Record<string, unknown>) => {
    const name = frame['name'] as string;
    if (name === HYDRATE) return socket.emit('event', { delta: { [ECHO_STATE]: { count_rx_state_: 0 } } });
    if (name === ON_LOAD_INTERNAL) return socket.emit('event', { delta: { [ROOT]: { is_hydrated_rx_state_: true } } });
    const dot = name.lastIndexOf('.');
    const definition = DEFINITIONS.get(name.slice(0, dot));
    const handler = definition?.handlers.get(name.slice(dot + 1));
    if (!definition || !handler) return refuse('unknown_handler', `No event handler is registered as "${name}".`);
    const now = Date.now();
    const lock = locks.get(token);
    if (lock && lock.until > now) return refuse('state_locked', 'The state is locked.');
    locks.set(token, { until: now + LOCK_TTL_MS });
    try {
      const tree: FloorTree = trees.get(token) ?? {};
      const view: FloorView = { base: tree[definition.path] ?? {}, definition, touched: undefined };
      const target = Object.create(definition.accessors) as { [VIEW]: FloorView };
      target[VIEW] = view;
      handler.call(target);
      let changes: Record<string, unknown> | undefined;
      if (view.touched) {
        for (const [key, value] of view.touched) {
          const before = key in view.base ? view.base[key] : definition.initial[key];
          if (value === before || (value !== null && typeof value === 'object' && isDeepStrictEqual(value, before))) continue;
          (changes ??= {})[key] = value;
        }
      }
      if (!changes) return;
      const record = { ...view.base };
      const wire: Record<string, unknown> = {};
      for (const key in changes) {
        record[key] = changes[key];
        wire[`${key}_rx_state_`] = changes[key];
      }
      const next = { ...tree };
      next[definition.path] = record;
      trees.set(token, next);
      const delta: Record<string, unknown> = {};
      delta[definition.path] = wire;
      socket.emit('event', { delta });
    } catch (error) {
      refuse('handler_error', String(error));
    } finally {
      locks.delete(token);
    }
  };

  socket.on('event', (frame: unknown) => {
    const now = Date.now();
    if (budgetEndsAt <= now) {
      budgetHits = 0;
      budgetEndsAt = now + BUDGET_TTL_MS;
    }
    if (++budgetHits > BUDGET_LIMIT) return refuse('rate_limited', 'Too many events.');
    const problem = problemInEnvelope(frame, budget);
    if (problem) return refuse(problem.code, problem.message);
    if (running) {
      waiting.push(frame as Record<string, unknown>);
      return;
    }
    running = true;
    try {
      run(frame as Record<string, unknown>);
      while (waiting.length > 0) run(waiting.shift()!);
    } finally {
      running = false;
    }
  });
}
