import type { OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { knownOptions, positiveTimerOption } from '../common/connection-options.js';
import type { RateLimitStorage } from './rate-limit-storage.js';

/** What `@nestjs/throttler`'s `ThrottlerStorage.increment` resolves to (the type is not exported by name). */
export type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** Options of {@link InMemoryThrottlerStorage}. */
export interface InMemoryThrottlerStorageOptions {
  /**
   * Milliseconds between sweeps that drop counters whose window (or block) has ended, so memory follows the keys
   * seen recently, not every key ever seen. The timer does not keep the process alive.
   * @default 60_000
   */
  sweepIntervalMs?: number;
  /** The clock, in milliseconds (tests pass a fake one). @default Date.now */
  now?: () => number;
}

/** The keys of {@link InMemoryThrottlerStorageOptions}: any other is refused. */
const IN_MEMORY_THROTTLER_STORAGE_OPTIONS: readonly (keyof InMemoryThrottlerStorageOptions)[] = ['sweepIntervalMs', 'now'];

/** One counter: hits in the current window, and when the window (or the block) ends. */
interface Counter {
  hits: number;
  endsAt: number;
}

/**
 * A `@nestjs/throttler` storage in this process's memory, usable by the event pipeline without a promise.
 *
 * Why not the throttler's own `ThrottlerStorageService`: its `increment` is `async`, so every event would cost a
 * promise (the `none` tier runs without one), and it keeps one expiry timestamp per hit, filtered into a new array
 * on every call, which is far from the sub-microsecond budget of the per-connection check. This class keeps one
 * counter object per key (fixed window, see {@link RateLimitStorage}): {@link hit} is two `Map` lookups and a few
 * comparisons, and allocates only when a key is new. It still implements `ThrottlerStorage`, so an app can pass it
 * to `ThrottlerModule` (`storage`) for its HTTP routes.
 * @publicApi
 */
export class InMemoryThrottlerStorage implements RateLimitStorage, OnApplicationShutdown {
  /** Counters by throttler name, then by key. */
  private readonly counters = new Map<string, Map<string, Counter>>();
  private readonly sweepIntervalMs: number;
  private readonly now: () => number;
  private sweeper?: NodeJS.Timeout;

  /** @param options see {@link InMemoryThrottlerStorageOptions}. */
  constructor(options: InMemoryThrottlerStorageOptions = {}) {
    knownOptions('InMemoryThrottlerStorage', options, IN_MEMORY_THROTTLER_STORAGE_OPTIONS);
    this.sweepIntervalMs = positiveTimerOption('InMemoryThrottlerStorage', 'sweepIntervalMs', options.sweepIntervalMs, 60_000);
    this.now = options.now ?? Date.now;
  }

  /**
   * Counts one hit, synchronously. Returns 0 when it is allowed, else the milliseconds until the counter lets hits
   * through again. `ttl` and `blockDuration` are milliseconds, as everywhere in `@nestjs/throttler` 6.
   */
  hit(key: string, ttl: number, limit: number, blockDuration: number, throttlerName = 'default'): number {
    const now = this.now();
    const counter = this.count(key, ttl, limit, blockDuration, throttlerName, now);
    return counter.hits > limit ? counter.endsAt - now : 0;
  }

  /** `ThrottlerStorage.increment`: the same count as {@link hit}, reported in whole seconds as the throttler expects. */
  increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const now = this.now();
    const counter = this.count(key, ttl, limit, blockDuration, throttlerName, now);
    const seconds = Math.ceil((counter.endsAt - now) / 1000);
    const isBlocked = counter.hits > limit;
    return Promise.resolve({ totalHits: counter.hits, timeToExpire: seconds, isBlocked, timeToBlockExpire: isBlocked ? seconds : 0 });
  }

  /** Forgets one counter (the pipeline drops a connection's counter when the socket closes). */
  forget(key: string, throttlerName = 'default'): void {
    this.counters.get(throttlerName)?.delete(key);
  }

  /** Counters held right now, ended ones not yet swept included. */
  get size(): number {
    let size = 0;
    for (const byKey of this.counters.values()) size += byKey.size;
    return size;
  }

  /** Drops counters whose window or block has ended. Runs on a timer; callable directly. */
  sweep(now = this.now()): void {
    for (const byKey of this.counters.values()) {
      for (const [key, counter] of byKey) if (counter.endsAt <= now) byKey.delete(key);
    }
  }

  /** Stops the sweep timer and forgets every counter. */
  close(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.counters.clear();
  }

  onApplicationShutdown(): void {
    this.close();
  }

  private count(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string, now: number): Counter {
    let byKey = this.counters.get(throttlerName);
    if (byKey === undefined) {
      byKey = new Map();
      this.counters.set(throttlerName, byKey);
    }
    let counter = byKey.get(key);
    if (counter === undefined) {
      counter = { hits: 0, endsAt: now + ttl };
      byKey.set(key, counter);
      if (!this.sweeper) this.startSweeping();
    } else if (counter.endsAt <= now) {
      // The window (or the block) is over: counting starts afresh.
      counter.hits = 0;
      counter.endsAt = now + ttl;
    }
    counter.hits++;
    // The first refused hit starts the block; later refused hits leave it as it is.
    if (counter.hits === limit + 1 && blockDuration > 0) counter.endsAt = now + blockDuration;
    return counter;
  }

  private startSweeping(): void {
    this.sweeper = setInterval(() => this.sweep(), this.sweepIntervalMs);
    this.sweeper.unref();
  }
}
