import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ClientClosedError, ClientOfflineError, ErrorReply } from 'redis';
import { isNotSent, isRefusedBeforeWriting } from './fail-fast-redis.options.js';

describe('isNotSent (node-redis refused a command without sending it)', () => {
  it("recognises node-redis's own errors for a connection that is down or closed", () => {
    expect(isNotSent(new ClientOfflineError())).toBe(true);
    expect(isNotSent(new ClientClosedError())).toBe(true);
  });

  it('never takes a Redis error reply or any other error for one (their outcome may be unknown)', () => {
    fc.assert(
      fc.property(fc.string(), (message) => {
        expect(isNotSent(new ErrorReply(message))).toBe(false);
        expect(isNotSent(new Error(message))).toBe(false);
      }),
    );
    expect(isNotSent(new Error('The client is offline'))).toBe(false);
    expect(isNotSent('The client is closed')).toBe(false);
    expect(isRefusedBeforeWriting(new ClientOfflineError())).toBe(false);
  });
});
