import { isDeepStrictEqual } from 'node:util';
import type { ResolvedReflexBridgeOptions } from '../../reflex-bridge.options.js';
import type { AppState } from './app-state.js';
import type { SyntheticRequest } from '../request/synthetic-request.js';

type Target = Record<string, unknown>;
type SyncedVar = 'isAuthenticated' | 'username' | 'flashMessages' | 'csrfToken' | 'language';

/** Assigns only when the value changed, so unchanged snapshot vars never reach the delta. */
function assign(target: Target, name: SyncedVar, value: unknown): void {
  if (!isDeepStrictEqual(target[name], value)) target[name] = value;
}

function usernameOf(options: ResolvedReflexBridgeOptions, user: Record<string, unknown> | undefined): string {
  if (!user) return '';
  if (options.bridge.usernameOf) return options.bridge.usernameOf(user);
  for (const key of ['username', 'email', 'name']) if (typeof user[key] === 'string') return user[key];
  return '';
}

function flashMessages(request: SyntheticRequest): Array<{ level: string; message: string }> | undefined {
  const flash = request.flash;
  if (typeof flash !== 'function') return undefined;
  // connect-flash: `req.flash()` returns and consumes every message, grouped by level.
  const grouped = (flash as () => Record<string, unknown>).call(request) ?? {};
  return Object.entries(grouped).flatMap(([level, messages]) => (Array.isArray(messages) ? messages : [messages]).map((message) => ({ level, message: String(message) })));
}

function language(request: SyntheticRequest): string {
  for (const key of ['language', 'locale', 'lng']) if (typeof request[key] === 'string') return request[key] as string;
  const header = request.headers['accept-language'];
  return header ? header.split(',')[0].split(';')[0].trim() : '';
}

/**
 * Refreshes an `AppState`'s snapshot and mirror vars from the live request after a bridged step, each
 * behind its option. UI hints only: authorisation always reads the live request.
 */
export function syncAppState(target: AppState, request: SyntheticRequest, options: ResolvedReflexBridgeOptions): void {
  const state = target as unknown as Target;
  if (options.bridge.authAutoSync === true) {
    const user = request.user as Record<string, unknown> | undefined;
    assign(state, 'isAuthenticated', Boolean(user));
    assign(state, 'username', usernameOf(options, user));
  }
  const { mirrors } = options.bridge;
  if (mirrors.flash === true) {
    const messages = flashMessages(request);
    if (messages) assign(state, 'flashMessages', messages);
  }
  if (mirrors.csrf === true && typeof request.csrfToken === 'function') {
    assign(state, 'csrfToken', String((request.csrfToken as () => unknown).call(request)));
  }
  if (mirrors.language === true) assign(state, 'language', language(request));
}
