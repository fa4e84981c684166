import { describe, expect, it } from '@jest/globals';
import { RedisTransport } from './redis.transport.js';

describe('RedisTransport options', () => {
  it('refuses an option it does not know, naming it: a misspelt one was ignored and its default used', () => {
    expect(() => new RedisTransport({ url: 'redis://localhost:6379', maxReconnectDelay: 100 } as never)).toThrow(
      'RedisTransport: unknown option "maxReconnectDelay" (it takes "url", "connections", "channel", "publishTimeoutMs", "maxReconnectDelayMs", "startupAttempts", "maxMessageBytes")',
    );
    expect(
      () =>
        new RedisTransport({ url: 'redis://localhost:6379', channel: 'app', publishTimeoutMs: 1, maxReconnectDelayMs: 2, startupAttempts: 3, maxMessageBytes: 4 }),
    ).not.toThrow();
  });
});
