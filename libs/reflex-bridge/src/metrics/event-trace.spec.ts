import { describe, expect, it } from '@jest/globals';
import { EventTimer } from './event-timer.js';
import { EventTrace } from './event-trace.js';

describe('EventTrace', () => {
  it('exists only on timers of traced events', () => {
    expect(new EventTimer('s.h').trace).toBeUndefined();
    expect(new EventTimer('s.h', true).trace).toBeInstanceOf(EventTrace);
  });

  it('draws each phase where it ran, and no total', () => {
    const timer = new EventTimer('s.h', true);
    timer.add('tier', 1);
    timer.add('total', 5);
    expect(timer.trace!.steps.map((step) => step.phase)).toEqual(['tier']);
    expect(timer.trace!.steps[0].durationMs).toBe(1);
  });

  it('is current inside run() only, across awaits, and times queries the handler ran', async () => {
    const trace = new EventTimer('s.h', true).trace!;
    expect(EventTrace.current()).toBeUndefined();
    await trace.run(async () => {
      await Promise.resolve();
      EventTrace.current()?.queryStarted('SELECT 1');
      EventTrace.current()?.queryEnded('SELECT 1');
      EventTrace.current()?.queryStarted('SELECT 2');
      EventTrace.current()?.queryEnded('SELECT 2', true);
    });
    expect(EventTrace.current()).toBeUndefined();
    expect(trace.queryCount).toBe(2);
    expect(trace.queries[0].durationMs).toBeGreaterThanOrEqual(0);
    expect(trace.queries[1].failed).toBe(true);
  });

  it('keeps a hash of the session id, never the id, and a label for the user', () => {
    const trace = new EventTimer('s.h', true).trace!;
    trace.who({ user: { id: 7, username: 'ann' }, sessionID: 'secret-session-id' });
    expect(trace.user).toBe('ann');
    expect(trace.authenticated).toBe(true);
    expect(trace.sessionHash).toMatch(/^[0-9a-f]{12}$/);
    expect(JSON.stringify(trace)).not.toContain('secret-session-id');
  });

  it('bounds what one event keeps: SQL text, query list, delta and page path', () => {
    const trace = new EventTimer('s.h', true).trace!;
    for (let i = 0; i < 500; i++) trace.queryStarted(`SELECT ${'x'.repeat(5000)}`);
    expect(trace.queryCount).toBe(500);
    expect(trace.queries.length).toBe(50);
    expect(trace.queries[0].sql.length).toBeLessThan(1100);
    trace.sent({ a: 'y'.repeat(20_000) });
    expect(trace.deltaBytes).toBeGreaterThan(20_000);
    expect(trace.delta!.length).toBeLessThan(8_100);
    // The client sends the path: a message-sized one stayed whole in the devtools ring, per event.
    trace.notePath(`/${'p'.repeat(900_000)}`);
    expect(trace.path!.length).toBeLessThan(1_100);
    trace.notePath('/cart');
    expect(trace.path).toBe('/cart');
    trace.notePath({ toString: () => '/x' });
    expect(trace.path).toBeUndefined();
  });

  it('describes an error by name, code and message', () => {
    const trace = new EventTimer('s.h', true).trace!;
    trace.fail(Object.assign(new Error('nope'), { name: 'BridgeError', code: 'forbidden' }));
    expect(trace.error).toEqual({ name: 'BridgeError', code: 'forbidden', message: 'nope' });
  });

  it('bounds the error and the user label, and never throws whatever was thrown', () => {
    const trace = new EventTimer('s.h', true).trace!;
    trace.fail(new Error('q'.repeat(100_000)));
    expect(trace.error!.message.length).toBeLessThanOrEqual(2_001);
    trace.fail(Object.create(null));
    expect(trace.error).toEqual({ name: 'Error', message: '[object Object]' });
    trace.fail(Object.defineProperty({}, 'message', { get: () => { throw new Error('getter'); } }));
    expect(trace.error).toEqual({ name: 'Error', message: '[object Object]' });
    trace.fail(null);
    expect(trace.error).toEqual({ name: 'Error', message: 'null' });
    trace.who({ user: { username: 'u'.repeat(10_000) } });
    expect(trace.user!.length).toBeLessThanOrEqual(201);
    trace.who({ user: { id: Object.create(null) } });
    expect(trace.user).toBe('[object Object]');
  });
});
