import { describe, expect, it } from '@jest/globals';
import { resolveOptions } from '../reflex-bridge.options.js';
import { EventTimer } from '../metrics/event-timer.js';
import type { StateRegistry } from '../state/state-registry.service.js';
import { InMemoryStateStore } from '../state/store/in-memory-state.store.js';
import type { TierResolution } from '../bridge/tiers/tier-resolution.service.js';
import { BridgeDevtools } from './bridge-devtools.service.js';
import type { EventInspection } from './event-inspection.js';

function devtoolsWith(devtools: boolean | { maxEvents: number }): BridgeDevtools {
  const registry = { findHandler: () => undefined } as unknown as StateRegistry;
  const tiers = {} as TierResolution;
  return new BridgeDevtools(resolveOptions({ devtools }), registry, new InMemoryStateStore(), tiers);
}

function finished(handler: string, tier: string, token: string): EventTimer {
  const timer = new EventTimer(handler, true);
  timer.tier = tier;
  timer.trace!.token = token;
  timer.add('handler', 1);
  timer.add('total', 2);
  return timer;
}

describe('BridgeDevtools', () => {
  it('records nothing when off', () => {
    const devtools = devtoolsWith(false);
    expect(devtools.enabled).toBe(false);
    devtools.record(finished('s.a', 'none', 't1'));
    expect(devtools.recent()).toEqual([]);
    expect(devtools.latest()).toBeUndefined();
  });

  it('keeps the newest maxEvents, filters by handler, tier and token, and finds one by id', () => {
    const devtools = devtoolsWith({ maxEvents: 3 });
    devtools.record(finished('s.a', 'none', 't1'));
    devtools.record(finished('s.b', 'full', 't1'));
    devtools.record(finished('s.a', 'full', 't2'));
    devtools.record(finished('s.c', 'auth_only', 't2'));
    expect(devtools.size).toBe(3);
    expect(devtools.recent().map((event) => event.id)).toEqual([4, 3, 2]);
    expect(devtools.recent({ handler: 's.a' }).map((event) => event.id)).toEqual([3]);
    expect(devtools.recent({ tier: 'full' }).map((event) => event.id)).toEqual([3, 2]);
    expect(devtools.forToken('t2').map((event) => event.id)).toEqual([4, 3]);
    expect(devtools.recent({ limit: 1 })).toHaveLength(1);
    expect(devtools.get(2)).toMatchObject({ handler: 's.b', tier: 'full', durationMs: 2, phaseTotals: { handler: 1, total: 2 } });
    expect(devtools.get(1)).toBeUndefined();
    expect(devtools.latest()?.id).toBe(4);
    devtools.clear();
    expect(devtools.size).toBe(0);
  });

  it('streams each recorded event, and the same event again when it gains its error', () => {
    const devtools = devtoolsWith(true);
    const seen: EventInspection[] = [];
    const subscription = devtools.stream().subscribe((event) => seen.push(event));
    const timer = finished('s.a', 'full', 't1');
    devtools.record(timer);
    timer.trace!.fail(new Error('boom'));
    devtools.record(timer);
    subscription.unsubscribe();
    expect(seen.map((event) => [event.id, event.error?.message])).toEqual([
      [1, undefined],
      [1, 'boom'],
    ]);
    expect(devtools.size).toBe(1);
  });
});
