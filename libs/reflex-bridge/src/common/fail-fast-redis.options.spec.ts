import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ClientClosedError, ClientOfflineError, ErrorReply } from 'redis';
import { CommandNotRoutedError } from './command-not-routed.error.js';
import { isNotSent, isRefusedBeforeWriting } from './fail-fast-redis.options.js';

describe('isNotSent (node-redis refused a command without sending it)', () => {
  it("recognises node-redis's own errors for a connection that is down or closed", () => {
    expect(isNotSent(new ClientOfflineError())).toBe(true);
    expect(isNotSent(new ClientClosedError())).toBe(true);
  });

  it('recognises a Redis Cluster command no master could take, and not the bare TypeError it came from', () => {
    const routing = new TypeError("Cannot read properties of undefined (reading 'master')");
    expect(isNotSent(new CommandNotRoutedError(routing))).toBe(true);
    expect(isNotSent(routing)).toBe(false);
  });

  it('never takes a Redis error reply or any other error for one (their outcome may be unknown)', () => {
    fc.assert(
      fc.property(fc.string(), (message) => {
        expect(isNotSent(new ErrorReply(message))).toBe(false);
        expect(isNotSent(new Error(message))).toBe(false);
        expect(isNotSent(new TypeError(message))).toBe(false);
      }),
    );
    expect(isNotSent(new Error('The client is offline'))).toBe(false);
    expect(isNotSent('The client is closed')).toBe(false);
    expect(isRefusedBeforeWriting(new ClientOfflineError())).toBe(false);
  });
});

describe('isRefusedBeforeWriting (Redis refused a write before it changed anything)', () => {
  it("takes a Redis Cluster node's refusals of a command it did not run", () => {
    expect(isRefusedBeforeWriting(new ErrorReply('TRYAGAIN Multiple keys request during rehashing of slot'))).toBe(true);
    expect(isRefusedBeforeWriting(new ErrorReply('CLUSTERDOWN The cluster is down'))).toBe(true);
    expect(isRefusedBeforeWriting(new ErrorReply('CLUSTERDOWN Hash slot not served'))).toBe(true);
    expect(isRefusedBeforeWriting(new ErrorReply('READONLY You can\'t write against a read only replica.'))).toBe(true);
  });

  it('never takes an error reply of a script that may have written', () => {
    expect(isRefusedBeforeWriting(new ErrorReply('ERR Error running script (call to f_x): @user_script:1: boom'))).toBe(false);
  });
});
