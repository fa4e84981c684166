import { describe, expect, it } from '@jest/globals';
import type { RedisClient } from './redis-connections.js';
import { RedisAdapterSubscriber } from './redis-adapter-subscriber.js';

/** A subscriber connection whose every (un)subscription fails, as when it is reset or closed under them. */
function failingClient(): RedisClient {
  const fail = () => Promise.reject(new Error('read ECONNRESET'));
  return { pSubscribe: fail, subscribe: fail, pUnsubscribe: fail, unsubscribe: fail } as unknown as RedisClient;
}

describe('RedisAdapterSubscriber', () => {
  it("never rejects what the adapter calls without catching: unsubscriptions are dropped, failed subscriptions logged", async () => {
    const warnings: string[] = [];
    const subscriber = new RedisAdapterSubscriber(failingClient(), { log: () => undefined, error: () => undefined, warn: (message: string) => void warnings.push(message) });
    const listener = () => undefined;
    // What the adapter's close() sends for each namespace, and its constructor's subscriptions.
    const calls = [
      subscriber.pUnsubscribe('rx:io#/_event#*', listener, true),
      subscriber.unsubscribe('rx:io-request#/_event#', listener, true),
      subscriber.pSubscribe('rx:io#/_event#*', listener, true),
      subscriber.subscribe(['rx:io-request#/_event#'], listener, true),
    ];
    await expect(Promise.all(calls)).resolves.toEqual([undefined, undefined, undefined, undefined]);
    expect(warnings).toEqual([expect.stringContaining('a subscription failed (read ECONNRESET)'), expect.stringContaining('a subscription failed (read ECONNRESET)')]);
  });
});
