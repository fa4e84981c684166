import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import fc from 'fast-check';
import type { EventClient } from '../common/event-client.js';
import { FrontendExceptionLog } from './frontend-exception-log.js';

const client = (token = 'tok-12345678-abc'): EventClient => ({
  token,
  sid: `sid-${token}`,
  headers: {},
  remoteAddress: '127.0.0.1',
  emitUpdate: () => {
    throw new Error('a frontend exception is never answered');
  },
  emitError: () => {
    throw new Error('a frontend exception is never answered');
  },
});

/** A value whose every hook counts and throws: reading it the wrong way is caught by the counter. */
function trap(calls: { count: number }): object {
  const hook = () => {
    calls.count++;
    throw new Error('sender code ran');
  };
  const target = { toString: hook, valueOf: hook, toJSON: hook, [Symbol.toPrimitive]: hook };
  Object.defineProperty(target, 'info', { get: hook, enumerable: true });
  return target;
}

describe('FrontendExceptionLog', () => {
  let lines: string[];
  beforeEach(() => {
    lines = [];
    jest.spyOn(Logger.prototype, 'error').mockImplementation((message: unknown) => {
      lines.push(String(message));
    });
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it("logs what state.js sends from window.onerror: info and component_stack, with Reflex's prefix", () => {
    new FrontendExceptionLog().record(client(), { info: 'TypeError: x is undefined\n    at App (app.js:1:2)', component_stack: '' });
    expect(lines).toEqual(['[Reflex Frontend Exception] from tok-1234…: TypeError: x is undefined\\n    at App (app.js:1:2)']);
  });

  it('caps a report in size and escapes control characters, so it cannot forge log lines', () => {
    new FrontendExceptionLog().record(client(), { info: `${'a'.repeat(10_000)}`, component_stack: 'x\r\nFAKE LOG LINE\u2028' });
    expect(lines[0]).toContain('… (6000 more characters)');
    expect(lines[0]).not.toMatch(/[\r\n\u2028]/);
    expect(lines[0].length).toBeLessThan(6200);
  });

  it('logs at most 5 reports per connection and 20 a minute per process, then says how many it dropped', () => {
    const log = new FrontendExceptionLog();
    const one = client('one');
    for (let i = 0; i < 10; i++) log.record(one, { info: `e${i}` });
    expect(lines).toHaveLength(5);
    for (let i = 0; i < 30; i++) log.record(client(`c${i}`), { info: 'boom' });
    expect(lines).toHaveLength(20);
  });

  it('tells how many reports were dropped with the next one that passes', () => {
    const now = jest.spyOn(Date, 'now');
    now.mockReturnValue(1_000);
    const log = new FrontendExceptionLog();
    for (let i = 0; i < 25; i++) log.record(client(`c${i}`), { info: 'boom' });
    expect(lines).toHaveLength(20);
    now.mockReturnValue(1_000 + 60_000);
    log.record(client('later'), { info: 'after a minute' });
    expect(lines.at(-1)).toContain('(5 earlier reports over the limits were dropped)');
  });

  it('never throws and never runs anything the sender controls, whatever the payload', () => {
    const calls = { count: 0 };
    const hostile = fc.oneof(
      fc.anything(),
      fc.constant(null),
      fc.constant(trap(calls)),
      fc.record({ info: fc.constant(trap(calls)), component_stack: fc.constant(trap(calls)) }),
      fc.record({ info: fc.string({ maxLength: 50_000 }), component_stack: fc.anything() }),
      fc.constant(new Proxy({}, { get: () => (calls.count++, 'x'), getOwnPropertyDescriptor: () => { calls.count++; throw new Error('trap'); } })),
    );
    fc.assert(
      fc.property(hostile, (payload) => {
        // A fresh log per run: the limits would otherwise silence most runs.
        expect(() => new FrontendExceptionLog().record(client(), payload)).not.toThrow();
      }),
      { numRuns: 500 },
    );
    for (const line of lines) expect(line.length).toBeLessThan(7000);
    // Only the proxy's descriptor trap may run (reading an own property is a descriptor lookup); no getter,
    // no conversion hook, no `get` trap ever does.
    const log = new FrontendExceptionLog();
    const before = calls.count;
    log.record(client('t'), trap(calls));
    log.record(client('u'), { info: trap(calls), component_stack: trap(calls) });
    expect(calls.count).toBe(before);
  });
});
