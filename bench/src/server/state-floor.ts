import type { Socket } from 'socket.io';
import { ECHO_STATE, HYDRATE, ON_LOAD_INTERNAL, ROOT } from '../harness/wire.js';

/** How deep and how many values an event may carry (the library's bounds). */
const MAX_DEPTH = 32;
const MAX_EVENT_VALUES = 200_000;

/** The one state of the floor: a counter, as the echo's. */
class FloorState {
  count_rx_state_ = 0;

  bump(): void {
    this.count_rx_state_++;
  }
}

/** Handlers by state path, then by method name: the routing a state server needs. */
const HANDLERS = new Map<string, Map<string, (this: FloorState) => void>>([[ECHO_STATE, new Map([['bump', FloorState.prototype.bump]])]]);

/** The first problem in a plain object's keys and values: forbidden keys, non-JSON values, too deep, too many. */
function problemIn(value: Record<string, unknown>, depth: number, budget: { left: number }): string | undefined {
  for (const key in value) {
    if (--budget.left < 0) return 'too many values';
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') return 'forbidden key';
    const item = value[key];
    if (item === null || typeof item !== 'object') continue;
    if (depth >= MAX_DEPTH) return 'too deep';
    if (Array.isArray(item)) {
      if ((budget.left -= item.length) < 0) return 'too many values';
      const found = problemIn({ ...item }, depth + 1, budget);
      if (found) return found;
      continue;
    }
    if (!isPlainObject(item)) return 'not JSON';
    const found = problemIn(item, depth + 1, budget);
    if (found) return found;
  }
  return undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * What is wrong with an event's envelope, as the library checks it: a plain object, a name of at most 512 characters,
 * plain-object payload and router data walked for forbidden keys, depth and size. `budget` is reused between events.
 */
export function problemInEnvelope(frame: unknown, budget: { left: number } = { left: 0 }): { code: string; message: string } | undefined {
  if (!isPlainObject(frame)) return { code: 'invalid_event', message: 'An event must be a JSON object.' };
  const { name, payload, router_data: routerData } = frame;
  if (typeof name !== 'string' || name.length === 0 || name.length > 512) return { code: 'invalid_event', message: 'An event needs a "name".' };
  if ((payload != null && !isPlainObject(payload)) || (routerData != null && !isPlainObject(routerData))) return { code: 'invalid_event', message: 'Not an object.' };
  budget.left = MAX_EVENT_VALUES;
  const problem = (payload ? problemIn(payload, 0, budget) : undefined) ?? (routerData ? problemIn(routerData, 0, budget) : undefined);
  return problem ? { code: 'invalid_payload', message: problem } : undefined;
}

/**
 * The floor of a `none` event, for `tiers`: the least a state server on bare Socket.IO must do per event beyond the
 * echo, written by hand without Nest or the library. It validates the envelope as the library does (a plain
 * object, a name of at most 512 characters, plain-object payload and router data walked for forbidden keys, depth
 * and size), routes the name to a state and a method, runs the method on the connection's state, and answers the
 * vars that changed. What it leaves out is what the library adds beyond that: token queues and leases, tiers,
 * rate limits, copy-on-write commits, metrics. The bridge's `none` against this floor is what that costs.
 */
export function serveStateFloor(socket: Socket): void {
  const states = new Map<string, FloorState>();
  const budget = { left: 0 };
  const refuse = (code: string, message: string) => socket.emit('bridge_error', { code, message });
  socket.on('event', (frame: unknown) => {
    const problem = problemInEnvelope(frame, budget);
    if (problem) return refuse(problem.code, problem.message);
    const { name } = frame as { name: string };
    // The hydrate sequence, as the echo answers it.
    if (name === HYDRATE) return socket.emit('event', { delta: { [ECHO_STATE]: { count_rx_state_: 0 } } });
    if (name === ON_LOAD_INTERNAL) return socket.emit('event', { delta: { [ROOT]: { is_hydrated_rx_state_: true } } });
    const dot = name.lastIndexOf('.');
    const path = name.slice(0, dot);
    const handler = HANDLERS.get(path)?.get(name.slice(dot + 1));
    if (!handler) return refuse('unknown_handler', `No event handler is registered as "${name}".`);
    let state = states.get(path);
    if (!state) states.set(path, (state = new FloorState()));
    const before = state.count_rx_state_;
    handler.call(state);
    const changed: Record<string, unknown> = {};
    if (state.count_rx_state_ !== before) changed.count_rx_state_ = state.count_rx_state_;
    const delta: Record<string, unknown> = {};
    delta[path] = changed;
    return socket.emit('event', { delta });
  });
}
