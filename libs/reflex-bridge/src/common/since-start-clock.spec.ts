import { describe, expect, it } from '@jest/globals';
import { sinceStartMs, toEpochMs, toSinceStartMs } from './since-start-clock.js';
import { storeClock } from '../state/store/in-memory-state.lease.js';
import { Reflector } from '@nestjs/core';
import { EventRateLimiter } from '../security/event-rate-limiter.service.js';
import { InMemoryThrottlerStorage } from '../security/in-memory-throttler.storage.js';
import { resolveOptions } from '../reflex-bridge.options.js';
import type { StateRegistry } from '../state/state-registry.service.js';
import type { EventClient } from './event-client.js';
import { refusalNoticeDue } from '../pipeline/refusal-notices.js';
import { isSmallInteger } from './small-integer.spec.support.js';

describe('sinceStartMs', () => {
  it('answers small integers, not number objects, even from code that is not optimised yet', () => {
    expect(isSmallInteger(0)).toBe(true);
    expect(isSmallInteger(Date.now())).toBe(false);
    expect(isSmallInteger(sinceStartMs())).toBe(true);
    expect(isSmallInteger(storeClock())).toBe(true);
    expect(isSmallInteger(toSinceStartMs(Date.now()))).toBe(true);
  });

  it('is the clock of what connections keep: their budget window and their last refusal shown', () => {
    const rate = new EventRateLimiter(resolveOptions({ rateLimit: { perConnection: { limit: 3, ttlMs: 60_000 } } }), new InMemoryThrottlerStorage(), { handlerDefinitions: () => [] } as unknown as StateRegistry, new Reflector());
    rate.onApplicationBootstrap();
    const client: EventClient = { token: 't', sid: 's', headers: {}, remoteAddress: '203.0.113.7', emitUpdate: () => undefined, emitError: () => undefined };
    rate.admitConnection(client, 'root.a.b');
    expect(isSmallInteger(client.budgetEndsAt)).toBe(true);
    refusalNoticeDue(client, true);
    expect(isSmallInteger(client.refusalShownAt)).toBe(true);
  });

  it('converts `Date.now()` times to its clock and back', () => {
    const now = Date.now();
    expect(toEpochMs(toSinceStartMs(now))).toBe(now);
    expect(toSinceStartMs(now)).toBeLessThanOrEqual(sinceStartMs());
  });
});
