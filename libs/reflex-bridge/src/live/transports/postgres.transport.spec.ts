import { describe, expect, it } from '@jest/globals';
import { PostgresTransport } from './postgres.transport.js';

describe('PostgresTransport options', () => {
  it('refuses a connection string that is not a URL at construction, without echoing it', () => {
    // Before: accepted; the app started and every LISTEN attempt failed with "getaddrinfo ENOTFOUND base", forever.
    for (const connectionString of ['host=db port=5432 dbname=app user=app password=secret', '5432/app?password=secret', '']) {
      let thrown: unknown;
      try {
        new PostgresTransport({ connectionString });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as Error).message).toMatch(/"connectionString" must be a URL such as postgresql:\/\/.*key=value form.*not supported/);
      expect((thrown as Error).message).not.toContain('secret');
    }
  });

  it('accepts the URL forms pg reads', () => {
    for (const connectionString of [
      'postgresql://app:secret@db:5432/app',
      'postgres://app@db/app',
      'postgresql:///app?host=/var/run/postgresql',
      'socket:/var/run/postgresql?db=app',
      '/var/run/postgresql app',
    ]) {
      expect(() => new PostgresTransport({ connectionString })).not.toThrow();
    }
  });

  it('refuses an option it does not know, naming it: a misspelt one was ignored and its default used', () => {
    const connectionString = 'postgresql://app@db/app';
    expect(() => new PostgresTransport({ connectionString, publishTimeout: 100 } as never)).toThrow(
      'PostgresTransport: unknown option "publishTimeout" (it takes "connectionString", "channel", "publishTimeoutMs", "minReconnectDelayMs", "maxReconnectDelayMs", "heartbeatMs")',
    );
    expect(
      () => new PostgresTransport({ connectionString, channel: 'app', publishTimeoutMs: 1, minReconnectDelayMs: 1, maxReconnectDelayMs: 2, heartbeatMs: 3 }),
    ).not.toThrow();
  });

  it('refuses a first reconnection delay longer than the longest, naming both: the longest silently won', () => {
    const connectionString = 'postgresql://app@db/app';
    expect(() => new PostgresTransport({ connectionString, minReconnectDelayMs: 2_000, maxReconnectDelayMs: 1_000 })).toThrow(
      'PostgresTransport: "minReconnectDelayMs" (2000) must be at most "maxReconnectDelayMs" (1000): the first reconnection delay cannot exceed the longest',
    );
    expect(() => new PostgresTransport({ connectionString, minReconnectDelayMs: 10_000 })).toThrow(
      'PostgresTransport: "minReconnectDelayMs" (10000) must be at most "maxReconnectDelayMs" (5000, its default): the first reconnection delay cannot exceed the longest',
    );
    expect(() => new PostgresTransport({ connectionString, minReconnectDelayMs: 1_000, maxReconnectDelayMs: 1_000 })).not.toThrow();
  });
});
