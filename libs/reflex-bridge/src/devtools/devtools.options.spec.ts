import { describe, expect, it } from '@jest/globals';
import { resolveOptions } from '../reflex-bridge.options.js';
import { InvalidOptionError } from '../invalid-option.error.js';

describe('the devtools option', () => {
  it('is off by default; true takes the defaults', () => {
    expect(resolveOptions().devtools).toBeUndefined();
    expect(resolveOptions({ devtools: false }).devtools).toBeUndefined();
    expect(resolveOptions({ devtools: true }).devtools).toEqual({ maxEvents: 500, path: '/_bridge/devtools', logAdviceOnShutdown: true, allowedHosts: [], maxStreams: 64, maxStreamsPerAddress: 8 });
    expect(resolveOptions({ devtools: { maxEvents: 20, path: '/dev/bridge', logAdviceOnShutdown: false, allowedHosts: ['Dev.Example'] } }).devtools).toEqual({
      maxEvents: 20,
      path: '/dev/bridge',
      logAdviceOnShutdown: false,
      allowedHosts: ['dev.example'],
      maxStreams: 64,
      maxStreamsPerAddress: 8,
    });
    expect(resolveOptions({ devtools: { maxStreams: 10, maxStreamsPerAddress: 2 } }).devtools).toMatchObject({ maxStreams: 10, maxStreamsPerAddress: 2 });
    expect(() => resolveOptions({ devtools: { allowedHosts: ['http://dev.example'] } })).toThrow('invalid option "devtools.allowedHosts"');
  });

  it('is refused with production: true', () => {
    expect(() => resolveOptions({ production: true, devtools: true })).toThrow(/devtools.*production/);
    expect(resolveOptions({ production: true, devtools: false }).devtools).toBeUndefined();
  });

  it('refuses sizes past their bound at startup, naming the field and the bound, instead of failing later', () => {
    // `new Array(maxEvents)` threw a bare `RangeError: Invalid array length` when the devtools service was created
    // (past 2**32 - 1), and anything below that made the ring reserve a slot per event: 4e9 slots, 32 GB.
    for (const maxEvents of [2 ** 32, 5e9, Number.MAX_SAFE_INTEGER, 100_001]) {
      expect(() => resolveOptions({ devtools: { maxEvents } })).toThrow(InvalidOptionError);
      expect(() => resolveOptions({ devtools: { maxEvents } })).toThrow(/invalid option "devtools\.maxEvents".*at most 100000/);
    }
    expect(resolveOptions({ devtools: { maxEvents: 100_000 } }).devtools?.maxEvents).toBe(100_000);
    for (const field of ['maxStreams', 'maxStreamsPerAddress'] as const) {
      expect(() => resolveOptions({ devtools: { [field]: 1025 } })).toThrow(new RegExp(`invalid option "devtools\\.${field}".*at most 1024`));
      expect(() => resolveOptions({ devtools: { [field]: 2 ** 53 } })).toThrow(InvalidOptionError);
      expect(resolveOptions({ devtools: { [field]: 1024 } }).devtools?.[field]).toBe(1024);
    }
  });

  it('names the field of an invalid value', () => {
    expect(() => resolveOptions({ devtools: { maxEvents: 0 } })).toThrow(/devtools\.maxEvents/);
    expect(() => resolveOptions({ devtools: { path: 'nope' } })).toThrow(/devtools\.path/);
    expect(() => resolveOptions({ devtools: { path: '/_event/dev' } })).toThrow(/devtools\.path/);
    expect(() => resolveOptions({ devtools: { maxStreams: 0 } })).toThrow(/devtools\.maxStreams/);
    expect(() => resolveOptions({ devtools: { maxStreamsPerAddress: 1.5 } })).toThrow(/devtools\.maxStreamsPerAddress/);
    expect(() => resolveOptions({ devtools: { colour: 'red' } as never })).toThrow(/devtools\.colour/);
    expect(() => resolveOptions({ devtools: 'yes' as never })).toThrow(/devtools/);
  });
});
