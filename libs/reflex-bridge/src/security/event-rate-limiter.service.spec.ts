import { describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { SkipThrottle, Throttle, ThrottlerStorageService, type ThrottlerStorage } from '@nestjs/throttler';
import { resolveOptions, type ReflexBridgeModuleOptions } from '../reflex-bridge.options.js';
import type { HandlerDefinition, StateDefinition } from '../state/state-definition.js';
import type { StateRegistry } from '../state/state-registry.service.js';
import type { EventClient } from '../common/event-client.js';
import { EventRateLimiter } from './event-rate-limiter.service.js';
import { InMemoryThrottlerStorage } from './in-memory-throttler.storage.js';

@Throttle({ default: { limit: 3, ttl: 60_000 } })
class GuardedState {
  login(): void {}
  /** Overrides the class's limit for itself. */
  @Throttle({ default: { limit: 1, ttl: 60_000 } })
  reset(): void {}
  /** Skips the class's `default` limit, and the connection budget. */
  @SkipThrottle()
  ping(): void {}
  /** Two named limits. */
  @Throttle({ burst: { limit: 2, ttl: 60_000, blockDuration: 5_000 } })
  search(): void {}
}

class PlainState {
  bump(): void {}
}

/** Handler definitions as the registry builds them (only what the limiter reads). */
function handlersOf(cls: new () => object, stateName: string): HandlerDefinition[] {
  const state = { cls, fullName: `root.${stateName}` } as unknown as StateDefinition;
  return Object.getOwnPropertyNames(cls.prototype)
    .filter((method) => method !== 'constructor')
    .map((method) => ({ fullName: `root.${stateName}.${method}`, method, state, options: {}, params: [], paramTypes: [], streaming: false }));
}

const HANDLERS = [...handlersOf(GuardedState, 'guarded_state'), ...handlersOf(PlainState, 'plain_state')];
const handler = (fullName: string) => HANDLERS.find((candidate) => candidate.fullName === fullName)!;

function limiter(options: ReflexBridgeModuleOptions = {}, storage: ThrottlerStorage = new InMemoryThrottlerStorage(), handlers = HANDLERS): EventRateLimiter {
  const registry = { handlerDefinitions: () => handlers } as unknown as StateRegistry;
  const created = new EventRateLimiter(resolveOptions(options), storage, registry, new Reflector());
  created.onApplicationBootstrap();
  return created;
}

const IP = '203.0.113.7';

/** A client as the limiter sees it: it keeps the connection's budget. */
const client = (sid: string): EventClient => ({ token: 't', sid, headers: {}, remoteAddress: IP, emitUpdate: () => undefined, emitError: () => undefined });

describe('EventRateLimiter', () => {
  it('counts every event of a connection against its budget, synchronously, and refuses the one over it', () => {
    const rate = limiter({ rateLimit: { perConnection: { limit: 3, ttlMs: 60_000 } } });
    const first = client('sid-1');
    for (let i = 0; i < 3; i++) expect(rate.admitConnection(first, 'root.plain_state.bump')).toBe(0);
    // Within its budget, the connection is not blocked (the gateway reads its socket).
    expect(rate.connectionBlockedForMs(first)).toBe(0);
    const wait = rate.admitConnection(first, 'root.plain_state.bump');
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60_000);
    // The first refusal of the block is the one shown to the user; the ones after it are not.
    expect(rate.isFirstRefusal(first)).toBe(true);
    expect(rate.admitConnection(first, 'root.plain_state.bump')).toBeGreaterThan(0);
    expect(rate.isFirstRefusal(first)).toBe(false);
    // Over it, blocked for as long as the refusal says.
    expect(rate.connectionBlockedForMs(first)).toBeGreaterThan(wait - 1_000);
    expect(rate.connectionBlockedForMs(first)).toBeLessThanOrEqual(wait);
    // Another connection has its own budget.
    expect(rate.admitConnection(client('sid-2'), 'root.plain_state.bump')).toBe(0);
    expect(rate.connectionBlockedForMs(client('sid-3'))).toBe(0);
    // A window that ended starts afresh.
    first.budgetEndsAt = -1;
    expect(rate.connectionBlockedForMs(first)).toBe(0);
    expect(rate.admitConnection(first, 'root.plain_state.bump')).toBe(0);
  });

  it('says when the next event of a connection would be refused, so that its frame need not be parsed; never while a handler may be exempt', () => {
    const plain = handlersOf(PlainState, 'plain_state');
    const rate = limiter({ rateLimit: { perConnection: { limit: 3, ttlMs: 60_000 } } }, undefined, plain);
    const connection = client('sid-1');
    expect(rate.nextEventRefusedForMs(connection)).toBe(0);
    for (let i = 0; i < 2; i++) rate.admitConnection(connection, 'root.plain_state.bump');
    expect(rate.nextEventRefusedForMs(connection)).toBe(0);
    // Large frames used the rest up: the next event is the one refused.
    rate.chargeConnection(connection, 5);
    expect(rate.nextEventRefusedForMs(connection)).toBeGreaterThan(59_000);
    expect(rate.admitConnection(connection, '')).toBeGreaterThan(59_000);
    expect(rate.nextEventRefusedForMs(connection)).toBeGreaterThan(59_000);
    connection.budgetEndsAt = -1;
    expect(rate.nextEventRefusedForMs(connection)).toBe(0);
    // With a @SkipThrottle() handler, an unparsed event could be one of its: never refused unread.
    const withExempt = limiter({ rateLimit: { perConnection: { limit: 1, ttlMs: 60_000 } } });
    const other = client('sid-2');
    withExempt.chargeConnection(other, 5);
    expect(withExempt.nextEventRefusedForMs(other)).toBe(0);
    expect(limiter({ rateLimit: { perConnection: false } }, undefined, plain).nextEventRefusedForMs(other)).toBe(0);
  });

  it('does not count @SkipThrottle() handlers against the connection budget, and has no budget when it is off', () => {
    const rate = limiter({ rateLimit: { perConnection: { limit: 1, ttlMs: 60_000 } } });
    const one = client('sid');
    for (let i = 0; i < 10; i++) expect(rate.admitConnection(one, 'root.guarded_state.ping')).toBe(0);
    expect(rate.admitConnection(one, 'root.plain_state.bump')).toBe(0);
    expect(rate.admitConnection(one, 'root.plain_state.bump')).toBeGreaterThan(0);
    const off = limiter({ rateLimit: { perConnection: false } });
    const other = client('sid');
    for (let i = 0; i < 1000; i++) expect(off.admitConnection(other, 'root.plain_state.bump')).toBe(0);
  });

  it('lets other messages use up a connection budget, never past it: the next event is the refused one, shown', () => {
    const rate = limiter({ rateLimit: { perConnection: { limit: 10, ttlMs: 60_000 } } });
    const one = client('sid');
    expect(rate.chargeConnection(one, 4)).toBe(0);
    expect(rate.admitConnection(one, 'root.plain_state.bump')).toBe(0);
    const paused = rate.chargeConnection(one, 50);
    expect(paused).toBeGreaterThan(0);
    expect(paused).toBeLessThanOrEqual(60_000);
    expect(one.budgetHits).toBe(10);
    expect(rate.admitConnection(one, 'root.plain_state.bump')).toBeGreaterThan(0);
    expect(rate.isFirstRefusal(one)).toBe(true);
    expect(rate.chargeConnection(one, 1)).toBeGreaterThan(0);
    // A window that ended starts afresh; without a budget nothing is counted.
    one.budgetEndsAt = -1;
    expect(rate.chargeConnection(one, 3)).toBe(0);
    expect(one.budgetHits).toBe(3);
    const off = limiter({ rateLimit: { perConnection: false } });
    expect(off.chargeConnection(client('sid'), 1_000_000)).toBe(0);
  });

  it('applies @Throttle per handler and client IP: class limit, method override, skip, named limits', () => {
    const rate = limiter();
    const hits = (name: string, ip = IP, times = 1) => Array.from({ length: times }, () => rate.checkHandler(handler(name), ip));
    expect(hits('root.guarded_state.login', IP, 3)).toEqual([0, 0, 0]);
    expect(rate.checkHandler(handler('root.guarded_state.login'), IP)).toBeGreaterThan(0);
    // Another address is not affected; nor is another handler of the class (its own counter).
    expect(rate.checkHandler(handler('root.guarded_state.login'), '198.51.100.1')).toBe(0);
    expect(hits('root.guarded_state.reset', IP, 2)[1]).toBeGreaterThan(0);
    expect(hits('root.guarded_state.ping', IP, 20).every((wait) => wait === 0)).toBe(true);
    expect(hits('root.plain_state.bump', IP, 20).every((wait) => wait === 0)).toBe(true);
    // search: the class's default (3) and its own burst (2, then a 5 s block): burst refuses first.
    const search = hits('root.guarded_state.search', IP, 3);
    expect(search.slice(0, 2)).toEqual([0, 0]);
    expect(search[2]).toBeGreaterThan(0);
    expect(search[2]).toBeLessThanOrEqual(5_000);
  });

  it('groups IPv6 clients by their /64, as ThrottlerGuard does', () => {
    const rate = limiter();
    const reset = handler('root.guarded_state.reset');
    expect(rate.checkHandler(reset, '2001:db8:1:2::a')).toBe(0);
    expect(rate.checkHandler(reset, '2001:db8:1:2::b')).toBeGreaterThan(0);
    expect(rate.checkHandler(reset, '2001:db8:1:3::a')).toBe(0);
  });

  it('works over any ThrottlerStorage, such as the throttler\'s own (asynchronous, whole seconds)', async () => {
    const storage = new ThrottlerStorageService();
    const rate = limiter({}, storage);
    const reset = handler('root.guarded_state.reset');
    expect(await rate.checkHandler(reset, IP)).toBe(0);
    const wait = await rate.checkHandler(reset, IP);
    expect(wait).toBeGreaterThanOrEqual(1000);
    expect(wait).toBeLessThanOrEqual(60_000);
    storage.onApplicationShutdown();
  });

  it('lets events through, with a warning, when the storage fails', async () => {
    const failing: ThrottlerStorage = { increment: () => Promise.reject(new Error('Redis is gone')) };
    const warnings: string[] = [];
    const warn = Logger.prototype.warn;
    Logger.prototype.warn = function (message: unknown) {
      warnings.push(String(message));
    };
    try {
      const rate = limiter({}, failing);
      expect(await rate.checkHandler(handler('root.guarded_state.reset'), IP)).toBe(0);
      expect(await rate.checkHandler(handler('root.guarded_state.reset'), IP)).toBe(0);
      expect(warnings).toEqual([expect.stringContaining('Redis is gone')]);
    } finally {
      Logger.prototype.warn = warn;
    }
  });

  it('admits new states per client address up to rateLimit.newStates, warns once per address past it, and lets them through when the storage fails', async () => {
    const warnings: string[] = [];
    const warn = Logger.prototype.warn;
    Logger.prototype.warn = function (message: unknown) {
      warnings.push(String(message));
    };
    try {
      const rate = limiter({ rateLimit: { newStates: { limit: 2, ttlMs: 60_000 } }, unusedStateTtlSeconds: 90 });
      expect(rate.countsNewStatesOrTabs).toBe(true);
      expect([rate.admitNewState(IP), rate.admitNewState(IP), rate.admitNewState(IP), rate.admitNewState(IP)]).toEqual([true, true, false, false]);
      // Its own budget per address, IPv6 by /64.
      expect([rate.admitNewState('2001:db8:1:2::a'), rate.admitNewState('2001:db8:1:2::b'), rate.admitNewState('2001:db8:1:2::c')]).toEqual([true, true, false]);
      expect(warnings).toEqual([
        expect.stringMatching(/^Keeping new states from 203\.0\.113\.7 short: .*more than 2 new states in 60000 ms \(rateLimit\.newStates\).*idle 90 s .*bridge\.trustProxy/),
        expect.stringContaining('Keeping new states from 2001:db8:1:2::/64 short'),
      ]);
      // An address written by a client that bypasses a trusted proxy cannot forge a line of the log.
      void rate.admitNewState('a\nFAKE');
      void rate.admitNewState('a\nFAKE');
      void rate.admitNewState('a\nFAKE');
      expect(warnings).toHaveLength(3);
      expect(warnings[2]).toContain('Keeping new states from a\\nFAKE short');

      const failing: ThrottlerStorage = { increment: () => Promise.reject(new Error('Redis is gone')) };
      expect(await limiter({}, failing).admitNewState(IP)).toBe(true);
      const off = limiter({ rateLimit: { newStates: false } });
      expect(off.admitNewState(IP)).toBe(true);
      expect(limiter({ rateLimit: { newStates: false, newTabs: false } }).countsNewStatesOrTabs).toBe(false);
      expect(limiter({ rateLimit: false }).countsNewStatesOrTabs).toBe(false);
    } finally {
      Logger.prototype.warn = warn;
    }
  });

  it('admits new tabs per client address up to rateLimit.newTabs, then throws rate_limited with its wait; warns once per address', () => {
    const warnings: string[] = [];
    const warn = Logger.prototype.warn;
    Logger.prototype.warn = function (message: unknown) {
      warnings.push(String(message));
    };
    try {
      const rate = limiter({ rateLimit: { newTabs: { limit: 2, ttlMs: 30_000 }, newStates: false } });
      expect(rate.countsNewStatesOrTabs).toBe(true);
      void rate.admitNewTab(IP);
      void rate.admitNewTab(IP);
      for (let i = 0; i < 2; i++) {
        let refusal: unknown;
        try {
          void rate.admitNewTab(IP);
        } catch (error) {
          refusal = error;
        }
        expect(refusal).toMatchObject({ code: 'rate_limited', message: expect.stringMatching(/^Too many new tabs from your address; try again in \d+ s\.$/) });
        expect((refusal as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
        expect((refusal as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(30_000);
      }
      expect(() => rate.admitNewTab('198.51.100.9')).not.toThrow();
      expect(warnings).toEqual([expect.stringMatching(/^Refusing new tabs from 203\.0\.113\.7: .*more than 2 tabs .* in 30000 ms \(rateLimit\.newTabs\).*bridge\.trustProxy/)]);
      const off = limiter({ rateLimit: { newTabs: false, newStates: false } });
      expect(off.countsNewStatesOrTabs).toBe(false);
      for (let i = 0; i < 5; i++) expect(() => off.admitNewTab(IP)).not.toThrow();
    } finally {
      Logger.prototype.warn = warn;
    }
  });

  it('reads nothing with rateLimit: false', () => {
    const rate = limiter({ rateLimit: false });
    for (let i = 0; i < 10; i++) expect(rate.checkHandler(handler('root.guarded_state.reset'), IP)).toBe(0);
  });

  it('stops the app at bootstrap on a limit events cannot use, naming the handler', () => {
    class BadState {
      @Throttle({ default: { limit: () => 3, ttl: 1000 } })
      dynamic(): void {}
    }
    class MissingTtl {
      @Throttle({ default: { limit: 3 } })
      short(): void {}
    }
    expect(() => limiter({}, undefined, handlersOf(BadState, 'bad_state'))).toThrow(/@Throttle on BadState\.dynamic: "limit" of throttler "default" must be an integer ≥ 0 .* a function/);
    expect(() => limiter({}, undefined, handlersOf(MissingTtl, 'missing_ttl'))).toThrow(/MissingTtl\.short: "ttl"/);
  });

  it("limits a built-in handler with no method of its own (a state's live_subscribe) by its state class's metadata", () => {
    @Throttle({ default: { limit: 2, ttl: 60_000 } })
    class LimitedBoard {}
    @SkipThrottle()
    class ExemptBoard {}
    const builtIn = (cls: new () => object, stateName: string): HandlerDefinition =>
      ({ fullName: `root.${stateName}.live_subscribe`, method: 'live_subscribe', state: { cls, fullName: `root.${stateName}` }, options: {}, params: [], paramTypes: [], streaming: false }) as unknown as HandlerDefinition;
    const rate = limiter({ rateLimit: { perConnection: { limit: 1, ttlMs: 60_000 } } });
    const limited = builtIn(LimitedBoard, 'limited_board');
    const exempt = builtIn(ExemptBoard, 'exempt_board');
    rate.addHandler(limited);
    rate.addHandler(exempt);
    expect(rate.checkHandler(limited, IP)).toBe(0);
    expect(rate.checkHandler(limited, IP)).toBe(0);
    expect(rate.checkHandler(limited, IP)).toBeGreaterThan(0);
    // @SkipThrottle() on the class exempts it from the connection's budget, as it does the class's handlers.
    const connection = client('sid-built-in');
    for (let i = 0; i < 5; i++) expect(rate.admitConnection(connection, exempt.fullName)).toBe(0);
  });

  it('answers a refusal as rate_limited with a whole-millisecond retry delay', () => {
    expect(limiter().refusal('root.a.b', 1234.2)).toEqual({ code: 'rate_limited', message: 'Too many events; try again in 2 s.', event: 'root.a.b', retryAfterMs: 1235 });
  });
});
