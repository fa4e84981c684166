import { describe, expect, it } from '@jest/globals';
import { InvalidOptionError } from '../invalid-option.error.js';
import { resolveOptions, type ReflexBridgeModuleOptions } from '../reflex-bridge.options.js';
import { positiveTimerOption } from './connection-options.js';
import { MAX_TIMER_MS } from './timer-ms.js';

const TOO_LONG = MAX_TIMER_MS + 1;

/** Every millisecond option of the module that ends up as a Node timer's delay. */
const MODULE_TIMER_OPTIONS: Array<[string, (ms: number) => ReflexBridgeModuleOptions]> = [
  ['redisCluster.waitTimeoutMs', (ms) => ({ redisCluster: { rootNodes: ['redis://127.0.0.1:7000'], waitTimeoutMs: ms } })],
  ['unfinishedMessageTimeoutMs', (ms) => ({ unfinishedMessageTimeoutMs: ms })],
  ['tokenHandoverGraceMs', (ms) => ({ tokenHandoverGraceMs: ms })],
  ['pingIntervalMs', (ms) => ({ pingIntervalMs: ms })],
  ['pingTimeoutMs', (ms) => ({ pingTimeoutMs: ms })],
  ['bridge.middlewareTimeoutMs', (ms) => ({ bridge: { middlewareTimeoutMs: ms } })],
  ['eventCache.operationTimeoutMs', (ms) => ({ eventCache: { operationTimeoutMs: ms } })],
  ['reflexRoutes.checkTimeoutMs', (ms) => ({ reflexRoutes: { checkTimeoutMs: ms } })],
  ['reflexRoutes.checkIntervalMs', (ms) => ({ reflexRoutes: { checkIntervalMs: ms } })],
  ['live.echoTimeoutMs', (ms) => ({ live: { echoTimeoutMs: ms } })],
  ['live.resyncSettleMs', (ms) => ({ live: { resyncSettleMs: ms } })],
  ['uploads.idleTimeoutMs', (ms) => ({ uploads: { idleTimeoutMs: ms } })],
];

describe('millisecond options longer than Node timers allow', () => {
  // Node runs a timer longer than 2^31 − 1 ms after 1 ms: such a timeout would expire at once instead of never.
  it.each(MODULE_TIMER_OPTIONS)('refuses %s at start-up, naming it', (name, given) => {
    expect(() => resolveOptions(given(TOO_LONG))).toThrow(InvalidOptionError);
    expect(() => resolveOptions(given(TOO_LONG))).toThrow(`invalid option "${name}": expected at most ${MAX_TIMER_MS} ms`);
    expect(() => resolveOptions(given(MAX_TIMER_MS))).not.toThrow();
  });

  it('refuses the same for the options of the Redis, Postgres and throttler backends', () => {
    expect(() => positiveTimerOption('RedisTransport', 'publishTimeoutMs', TOO_LONG, 5000)).toThrow(
      `RedisTransport: "publishTimeoutMs" must be at most ${MAX_TIMER_MS} ms`,
    );
    expect(positiveTimerOption('RedisTransport', 'publishTimeoutMs', MAX_TIMER_MS, 5000)).toBe(MAX_TIMER_MS);
    expect(positiveTimerOption('RedisTransport', 'publishTimeoutMs', undefined, 5000)).toBe(5000);
    expect(() => positiveTimerOption('RedisTransport', 'publishTimeoutMs', 0, 5000)).toThrow('must be a positive number');
  });
});
