import { describe, expect, it } from '@jest/globals';
import { withKeyspaceFlags } from './session-store.watcher.js';

describe('withKeyspaceFlags', () => {
  it('adds the keyspace, generic, expired and evicted flags, keeping what the server had', () => {
    expect(withKeyspaceFlags('')).toBe('Kgxe');
    expect(withKeyspaceFlags('Ex')).toBe('ExKge');
    expect(withKeyspaceFlags('Kgxe')).toBe('Kgxe');
  });

  it('treats "A" as every event class, so only the keyspace channel flag may be missing', () => {
    expect(withKeyspaceFlags('EA')).toBe('EAK');
    expect(withKeyspaceFlags('KA')).toBe('KA');
  });
});
