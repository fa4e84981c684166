import { ROOT_STATE_NAME, varKey } from './state-naming.js';
import type { StateUpdate } from './state-update.js';

/**
 * How the root state's router data reaches a client:
 * - `'combined'`: one `router` var, `{session, headers, page, url, route_id}`, as Reflex up to 0.9.11 serialises
 *   its `RouterData` (and as `@reflex-bridge/client` reads it);
 * - `'split'`: one var per part, `rx_router_session`, `rx_router_headers`, `rx_router_page`, `rx_router_url` and
 *   `rx_router_route_id`, as Reflex 0.9.12 and later serialise it. A page compiled by those versions reads these five
 *   and ignores a `router` var, so every `State.router` binding would keep its compiled default.
 * @publicApi
 */
export type RouterVarsShape = 'combined' | 'split';

/** The option: a shape, or `'auto'` (by the Reflex version the client announces). @publicApi */
export type RouterVarsOption = RouterVarsShape | 'auto';

/** The first Reflex release whose root state carries the split vars: 0.9.12. */
const FIRST_SPLIT: readonly [number, number, number] = [0, 9, 12];

/**
 * A version as Reflex's `state.js` announces it: its `reflex.json` version is the WebSocket subprotocol
 * (`Sec-WebSocket-Protocol: 0.9.12`, `0.9.11.post1`, `0.9.12a1`). Only the leading numbers count; anything else
 * (no header, another client's protocol) is not a Reflex version. At most 9 digits each: never a number that loses
 * precision, whatever the client wrote.
 */
const REFLEX_VERSION = /^\s*(\d{1,9})\.(\d{1,9})(?:\.(\d{1,9}))?/;

/**
 * The shape a client gets: `option` when it names one; with `'auto'`, `'split'` for a client announcing Reflex 0.9.12
 * or later as its WebSocket subprotocol (the first one it offers), else `'combined'`. Never throws.
 */
export function routerVarsShapeFor(option: RouterVarsOption, subprotocols: string | undefined): RouterVarsShape {
  if (option !== 'auto') return option;
  if (typeof subprotocols !== 'string') return 'combined';
  const comma = subprotocols.indexOf(',');
  const match = REFLEX_VERSION.exec(comma < 0 ? subprotocols : subprotocols.slice(0, comma));
  if (!match) return 'combined';
  const version = [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
  for (let i = 0; i < 3; i++) {
    if (version[i]! !== FIRST_SPLIT[i]) return version[i]! > FIRST_SPLIT[i]! ? 'split' : 'combined';
  }
  return 'split';
}

const ROUTER_KEY = varKey('router');

/** Each part of the combined var, and the key of the split var that carries it. */
const SPLIT_KEYS: ReadonlyArray<readonly [part: string, key: string]> = [
  ['session', varKey('rx_router_session')],
  ['headers', varKey('rx_router_headers')],
  ['page', varKey('rx_router_page')],
  ['url', varKey('rx_router_url')],
  ['route_id', varKey('rx_router_route_id')],
];

/** True when `update` carries the root state's combined `router` var (a hydration, a page change). */
export function carriesRouterVar(update: StateUpdate): boolean {
  return update.delta?.[ROOT_STATE_NAME]?.[ROUTER_KEY] !== undefined;
}

/**
 * `update` with the root state's combined `router` var replaced by the five split vars, each the part it names (see
 * {@link RouterVarsShape}); the root's other vars as they were. A new update: the one given may be shared.
 */
export function withSplitRouterVars(update: StateUpdate): StateUpdate {
  const delta = update.delta!;
  const root = delta[ROOT_STATE_NAME]!;
  const router = root[ROUTER_KEY] as Record<string, unknown> | null;
  const splitRoot: Record<string, unknown> = {};
  for (const key in root) {
    if (key !== ROUTER_KEY) splitRoot[key] = root[key];
  }
  if (router !== null && typeof router === 'object') {
    for (const [part, key] of SPLIT_KEYS) splitRoot[key] = router[part];
  }
  return { ...update, delta: { ...delta, [ROOT_STATE_NAME]: splitRoot } };
}
