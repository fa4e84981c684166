import type { StateStore } from './state/store/state-store.js';
import type { BridgeOptions } from './bridge/bridge.options.js';

/**
 * Options of {@link ReflexBridgeModule}. Every field is optional; {@link resolveOptions} merges the defaults
 * in one place and fails at startup with a message naming the field when a value is invalid.
 */
export interface ReflexBridgeModuleOptions {
  /**
   * Engine.IO path and Socket.IO namespace of the event channel. Reflex clients use `/_event` for both.
   * @default '/_event'
   */
  path?: string;
  /**
   * Largest inbound frame in bytes. A larger frame is answered with a `payload_too_large` error and dropped;
   * one over twice this size closes that connection (the transport refuses to buffer it).
   * @default 1_000_000
   */
  maxMessageBytes?: number;
  /**
   * Seconds a client token's state is kept after its last use.
   * @default 3600
   */
  stateTtlSeconds?: number;
  /**
   * Production mode: errors sent to clients say only what kind of error happened, never the exception's
   * message. Stack traces are never sent, in any mode.
   * @default false
   */
  production?: boolean;
  /**
   * Origins allowed to open the event socket (Socket.IO `cors.origin`). `true` reflects any origin.
   * @default undefined (same origin only for polling; WebSocket upgrades are not subject to CORS)
   */
  corsOrigins?: string[] | boolean;
  /**
   * Engine.IO heartbeat interval in milliseconds (Reflex: 25 s).
   * @default 25_000
   */
  pingIntervalMs?: number;
  /**
   * Milliseconds without a heartbeat answer before a connection is dropped (Reflex: 120 s).
   * @default 120_000
   */
  pingTimeoutMs?: number;
  /**
   * HTTP path (POST `<path>/<token>`) where the client fetches a session cookie changed by an event (login,
   * logout), so the cookie can stay HttpOnly. Outside the event `path`, which Engine.IO owns.
   * @default '/_bridge/session-cookie'
   */
  cookieHandoffPath?: string;
  /**
   * Where client states live. An instance of a {@link StateStore} implementation.
   * @default an in-memory store (one process)
   */
  stateStore?: StateStore;
  /** The bridge: which part of the app's request pipeline runs around each event. See {@link BridgeOptions}. */
  bridge?: BridgeOptions;
  /**
   * Make the module's exported providers available everywhere without importing the module again.
   * @default true
   */
  isGlobal?: boolean;
}

/** The options after defaults were merged and values checked: what the rest of the library reads. */
export interface ResolvedReflexBridgeOptions {
  path: string;
  maxMessageBytes: number;
  stateTtlSeconds: number;
  production: boolean;
  corsOrigins: string[] | boolean | undefined;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  stateStore: StateStore | undefined;
  cookieHandoffPath: string;
  bridge: Required<Pick<BridgeOptions, 'mode' | 'authAutoSync' | 'redirectStatuses'>> & BridgeOptions;
}

/** The defaults, in one place. */
export const DEFAULT_OPTIONS = {
  path: '/_event',
  maxMessageBytes: 1_000_000,
  stateTtlSeconds: 3600,
  production: false,
  pingIntervalMs: 25_000,
  pingTimeoutMs: 120_000,
  cookieHandoffPath: '/_bridge/session-cookie',
  bridge: { mode: 'full', authAutoSync: true, redirectStatuses: [301, 302, 303, 307, 308] },
} as const;

/** Thrown at startup for an invalid option; the message names the option. */
export class InvalidOptionError extends Error {
  constructor(option: string, problem: string) {
    super(`ReflexBridgeModule: invalid option "${option}": ${problem}`);
    this.name = 'InvalidOptionError';
  }
}

function positiveNumber(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(name, `expected a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function httpPath(name: string, value: unknown): string {
  if (typeof value !== 'string' || !/^\/[\w\-/]*$/.test(value) || value.endsWith('/')) {
    throw new InvalidOptionError(name, `expected a path such as "/_event", got ${JSON.stringify(value)}`);
  }
  return value;
}

const KNOWN_OPTIONS = new Set([
  'path', 'maxMessageBytes', 'stateTtlSeconds', 'production', 'corsOrigins', 'pingIntervalMs', 'pingTimeoutMs',
  'stateStore', 'bridge', 'isGlobal', 'cookieHandoffPath',
]);
const BRIDGE_MODES = new Set(['full', 'smart', 'none']);

/** Merges the defaults into `options` and validates every field. */
export function resolveOptions(options: ReflexBridgeModuleOptions = {}): ResolvedReflexBridgeOptions {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw new InvalidOptionError(key, 'unknown option');
  }
  const path = httpPath('path', options.path ?? DEFAULT_OPTIONS.path);
  const cookieHandoffPath = httpPath('cookieHandoffPath', options.cookieHandoffPath ?? DEFAULT_OPTIONS.cookieHandoffPath);
  if (cookieHandoffPath === path || cookieHandoffPath.startsWith(`${path}/`)) {
    throw new InvalidOptionError('cookieHandoffPath', `must lie outside the event path "${path}"`);
  }
  if (options.production !== undefined && typeof options.production !== 'boolean') {
    throw new InvalidOptionError('production', 'expected a boolean');
  }
  const bridge = options.bridge ?? {};
  const mode = bridge.mode ?? DEFAULT_OPTIONS.bridge.mode;
  if (!BRIDGE_MODES.has(mode)) {
    throw new InvalidOptionError('bridge.mode', `expected "full", "smart" or "none", got ${JSON.stringify(mode)}`);
  }
  if (bridge.resolver !== undefined && typeof bridge.resolver !== 'function') {
    throw new InvalidOptionError('bridge.resolver', 'expected a function or an injectable class');
  }
  for (const key of ['authMiddleware', 'fullMiddleware'] as const) {
    const list = bridge[key];
    if (list !== undefined && (!Array.isArray(list) || list.some((fn) => typeof fn !== 'function'))) {
      throw new InvalidOptionError(`bridge.${key}`, 'expected an array of Express middleware functions');
    }
  }
  if (options.stateStore !== undefined && typeof (options.stateStore as StateStore).acquire !== 'function') {
    throw new InvalidOptionError('stateStore', 'expected a StateStore instance');
  }
  return {
    path,
    maxMessageBytes: positiveNumber('maxMessageBytes', options.maxMessageBytes) ?? DEFAULT_OPTIONS.maxMessageBytes,
    stateTtlSeconds: positiveNumber('stateTtlSeconds', options.stateTtlSeconds) ?? DEFAULT_OPTIONS.stateTtlSeconds,
    production: options.production ?? DEFAULT_OPTIONS.production,
    corsOrigins: options.corsOrigins,
    pingIntervalMs: positiveNumber('pingIntervalMs', options.pingIntervalMs) ?? DEFAULT_OPTIONS.pingIntervalMs,
    pingTimeoutMs: positiveNumber('pingTimeoutMs', options.pingTimeoutMs) ?? DEFAULT_OPTIONS.pingTimeoutMs,
    stateStore: options.stateStore,
    cookieHandoffPath,
    bridge: {
      ...bridge,
      mode,
      authAutoSync: bridge.authAutoSync ?? DEFAULT_OPTIONS.bridge.authAutoSync,
      redirectStatuses: bridge.redirectStatuses ?? [...DEFAULT_OPTIONS.bridge.redirectStatuses],
    },
  };
}
