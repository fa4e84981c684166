import { describe, expect, it } from '@jest/globals';
import { EventTimer } from '../metrics/event-timer.js';
import { TierAdvisor } from './tier-advisor.js';

function event(handler: string, tier: string, shape: { total: number; handler?: number; read?: boolean; error?: string; reason?: string }): EventTimer {
  const timer = new EventTimer(handler, true);
  timer.tier = tier;
  timer.phases.set('total', shape.total);
  timer.phases.set('handler', shape.handler ?? 0);
  if (shape.read) timer.trace!.usedRequest();
  if (shape.error) timer.trace!.fail(Object.assign(new Error('x'), { name: shape.error }));
  timer.trace!.tierReason = shape.reason ?? 'bridge.mode "full"';
  return timer;
}

describe('TierAdvisor', () => {
  const advisor = new TierAdvisor((name) => name.includes('guarded'));

  it('flags a bridged handler that never read the request, with the mean time outside its own work', () => {
    const advice = advisor.advise([event('s.plain', 'full', { total: 3, handler: 1 }), event('s.plain', 'full', { total: 5, handler: 1 })]);
    expect(advice).toEqual([expect.objectContaining({ handler: 's.plain', kind: 'could_be_none', tier: 'full', events: 2, savingMs: 3 })]);
  });

  it('leaves alone handlers that read the request once, declare it (guards, params), or got the upload floor', () => {
    expect(
      advisor.advise([
        event('s.reads', 'full', { total: 2 }),
        event('s.reads', 'full', { total: 2, read: true }),
        event('s.guarded', 'full', { total: 2 }),
        event('s.upload', 'auth_only', { total: 2, reason: 'upload floor (smart mode: never uses the request said none)' }),
        event('s.quiet', 'none', { total: 1 }),
      ]),
    ).toEqual([]);
  });

  it('flags a none handler that asked for the request', () => {
    const advice = advisor.advise([event('s.asks', 'none', { total: 1, error: 'NoRequestError' })]);
    expect(advice).toEqual([expect.objectContaining({ handler: 's.asks', kind: 'needs_request', tier: 'none', events: 1 })]);
  });
});
