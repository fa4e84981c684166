import { describe, expect, it } from '@jest/globals';
import { resolveOptions } from '../reflex-bridge.options.js';

describe('the audit and workers options', () => {
  it("default to 'warn' in production and 'off' otherwise", () => {
    expect(resolveOptions({ production: true }).audit).toBe('warn');
    expect(resolveOptions({}).audit).toBe('off');
    expect(resolveOptions({ production: false, audit: 'strict' }).audit).toBe('strict');
    expect(resolveOptions({ production: true, audit: 'off' }).audit).toBe('off');
  });

  it('refuse anything else, naming the field', () => {
    expect(() => resolveOptions({ audit: 'loud' as never })).toThrow(/invalid option "audit": expected "warn", "strict" or "off"/);
    expect(() => resolveOptions({ audit: true as never })).toThrow(/invalid option "audit"/);
    expect(() => resolveOptions({ workers: 0 })).toThrow(/invalid option "workers"/);
    expect(() => resolveOptions({ workers: 2.5 })).toThrow(/invalid option "workers"/);
  });

  it('take a number of workers', () => {
    expect(resolveOptions({ workers: 4 }).workers).toBe(4);
    expect(resolveOptions({}).workers).toBeUndefined();
  });
});
