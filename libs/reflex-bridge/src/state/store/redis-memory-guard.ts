import { randomUUID } from 'node:crypto';
import type { LoggerService } from '@nestjs/common';
import type { RedisClient } from '../../common/redis-connections.js';
import { DROP_UNUSED_SCRIPT, RELEASE_LEASE_SCRIPT, type RedisLockScript } from './redis-lock.scripts.js';

/** Share of Redis's `maxmemory` the guard keeps its used memory under when its limit is `'auto'`. */
export const AUTO_LIMIT_SHARE = 0.8;
/** A sweep drops states until Redis uses this share of the limit or less, so the next one is not due at once. */
const SWEEP_TARGET_SHARE = 0.9;
/** Keys examined per SCAN call: one call stays short inside Redis, which serves everyone meanwhile. */
const SCAN_COUNT = 500;
/** Provisional states dropped per round of the sweep before Redis's used memory is read again. */
const DROP_BATCH = 100;
/** The same for kept states, which hold what their users did: fewer at a time, so no more go than needed. */
const KEPT_DROP_BATCH = 10;
/** States in use longest ago kept in mind per sweep, for its second pass (those beyond are not dropped this time). */
const MAX_KEPT_CANDIDATES = 20_000;
/** Lifetime of the sweep lease: one worker sweeps at a time; a worker that dies mid-sweep blocks others this long. */
const SWEEP_LEASE_MS = 60_000;
/** At most one warning per this many milliseconds (the line counts what was dropped since the last one). */
const LOG_EVERY_MS = 60_000;
/** After a sweep that could not get under the limit (what is left is in use, or not states), the next one waits this long. */
const SWEEP_BACKOFF_MS = 30_000;

/** What a {@link RedisMemoryGuard} needs of the store it guards. */
export interface RedisMemoryGuardHost {
  /** The store's command connection while ready on a single Redis; `undefined` while down or closed. */
  client(): RedisClient | undefined;
  /** Runs one of the store's scripts (EVALSHA, then EVAL when Redis does not know it). */
  script(client: RedisClient, script: RedisLockScript, keys: string[], args: string[]): Promise<unknown>;
}

/** How a {@link RedisMemoryGuard} is set up. */
export interface RedisMemoryGuardOptions {
  /** Used memory of Redis, in bytes, above which states nobody uses are dropped; `'auto'`: a share of Redis's `maxmemory`. */
  limit: number | 'auto';
  /** Milliseconds between two readings of Redis's used memory. */
  checkIntervalMs: number;
  /** The store's key prefix (`<prefix>v2:{<token>}` is a state, `…:lock` its lock). */
  keyPrefix: string;
  /** A state whose expiry is at most this far is provisional (only hydrated): those go first. */
  unusedTtlMs: number;
  /** The key that exists while a tab holds a token (see `RedisStateStoreOptions.openTabKey`): its state is kept. */
  openTabKey?: (token: string) => string;
  logger: LoggerService;
}

/** One state the sweep may drop, and how long it has left (a kept state's lifetime restarts at each use). */
interface Candidate {
  readonly key: string;
  readonly pttl: number;
}

/**
 * Keeps a Redis that holds client states from filling up: when Redis's used memory passes the limit, states nobody
 * is using are dropped, provisional ones (tabs that only hydrated) first, then those in use longest ago, until it
 * uses 90% of the limit. A state under a lock (an event running, or kept between a tab's events), or of a tab that is
 * open (with `openTabKey`), is never dropped. A dropped state is as an expired one: the tab that comes back with its
 * token starts from a fresh state.
 *
 * Why: every new tab leaves a state (its page's path, headers and client storage, tens of kilobytes), and clients
 * can make tabs faster than states expire. With Redis's `noeviction` (what the locks need: an evicted lock would fail
 * its holder's save) a full Redis refuses every write, so every user's events fail; with this, the states nobody is
 * using make room first, as the in-memory store's `maxBytes` does.
 *
 * It reads `INFO memory` every `checkIntervalMs` (one command, no cost per event). Over the limit, one worker at a
 * time (a lease key) walks the store's states with `SCAN` and drops them with a script that leaves those in use. Not on
 * a Redis Cluster, where each master holds part of the states and of the memory.
 */
export class RedisMemoryGuard {
  private timer?: NodeJS.Timeout;
  /** The check in progress, if any: one at a time per store. */
  private running?: Promise<void>;
  private readonly leaseKey: string;
  private readonly leaseValue = randomUUID();
  private readonly pattern: string;
  /** Where a state's key puts its token: `<prefix>v2:{` before it, `}` after. */
  private readonly tokenStart: number;
  /** States dropped over the limit since the store started. */
  private dropped = 0;
  /** Dropped since the last warning, and when that was. */
  private droppedUnlogged = 0;
  private loggedAt = 0;
  private overLogged = false;
  /** No sweep before this time (see {@link SWEEP_BACKOFF_MS}). */
  private sweepAfter = 0;
  /** Redis refused one of the guard's commands, and it was said. */
  private refusalLogged = false;

  constructor(
    private readonly host: RedisMemoryGuardHost,
    private readonly options: RedisMemoryGuardOptions,
  ) {
    this.leaseKey = `${options.keyPrefix}v2:memory-sweep`;
    // Only a state's key ends with its tag's `}`: its lock and waiting queue have suffixes.
    this.pattern = `${escapeGlob(options.keyPrefix)}v2:{*}`;
    this.tokenStart = `${options.keyPrefix}v2:{`.length;
  }

  /** States dropped to stay within the limit so far. */
  get droppedStates(): number {
    return this.dropped;
  }

  /** Starts the readings (a reading due while one is in progress is skipped); idempotent. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (!this.running) void this.check();
    }, this.options.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Reads Redis's used memory and, over the limit, sweeps (unless another worker does), after the check in progress
   * if there is one: what it read may be older than the caller's question. Resolves when done; never rejects (Redis
   * down or slow: the next reading tries again).
   */
  async check(): Promise<void> {
    while (this.running) await this.running;
    this.running = this.checkNow().finally(() => (this.running = undefined));
    return this.running;
  }

  private async checkNow(): Promise<void> {
    try {
      const client = this.host.client();
      if (!client) return;
      const memory = await readRedisMemory(client);
      const limit = this.options.limit === 'auto' ? (memory.maxmemory > 0 ? Math.floor(memory.maxmemory * AUTO_LIMIT_SHARE) : 0) : this.options.limit;
      if (limit <= 0 || memory.used <= limit) {
        this.overLogged = false;
        return;
      }
      if (Date.now() < this.sweepAfter) return;
      const leased: unknown = await client.sendCommand(['SET', this.leaseKey, this.leaseValue, 'NX', 'PX', String(SWEEP_LEASE_MS)]);
      if (leased !== 'OK') return;
      try {
        await this.sweep(client, limit, memory.used);
      } finally {
        await this.host.script(client, RELEASE_LEASE_SCRIPT, [this.leaseKey], [this.leaseValue]);
      }
    } catch (error) {
      // Redis down or slow: the store reports its own outages; try next time. A command Redis refuses (renamed or
      // forbidden by an ACL, on some managed services) would be refused every time: said once.
      if (!this.refusalLogged && error instanceof Error && /^(ERR unknown command|NOPERM)/.test(error.message)) {
        this.refusalLogged = true;
        this.options.logger.warn(
          `RedisStateStore: Redis refused what the memory limit needs (${error.message}); the limit is not enforced. It needs INFO, SCAN, PTTL, SET, ` +
            'EVALSHA and EVAL; or set memoryLimitBytes (redisMemoryLimitBytes) to false.',
        );
      }
    }
  }

  /**
   * Drops unused states until Redis uses {@link SWEEP_TARGET_SHARE} of `limit`: first every provisional one met on
   * the way through the states, then, if that was not enough, the others met, those used longest ago first.
   */
  private async sweep(client: RedisClient, limit: number, usedBefore: number): Promise<void> {
    const target = Math.floor(limit * SWEEP_TARGET_SHARE);
    let used = usedBefore;
    let droppedNow = 0;
    let kept: Candidate[] = [];
    let cursor = '0';
    do {
      const [next, keys] = (await client.sendCommand(['SCAN', cursor, 'MATCH', this.pattern, 'COUNT', String(SCAN_COUNT)])) as unknown as [string, string[]];
      cursor = next;
      if (keys.length === 0) continue;
      // Sent together: node-redis writes the commands of one tick in one go.
      const ttls = (await Promise.all(keys.map((key) => client.sendCommand(['PTTL', key])))) as unknown as number[];
      const provisional: string[] = [];
      keys.forEach((key, i) => {
        const pttl = ttls[i]!;
        if (pttl < 0) return; // gone meanwhile (or no expiry: not a state this store wrote)
        if (pttl <= this.options.unusedTtlMs) provisional.push(key);
        else kept.push({ key, pttl });
      });
      if (kept.length > MAX_KEPT_CANDIDATES) kept = oldestFirst(kept).slice(0, MAX_KEPT_CANDIDATES / 2);
      for (let start = 0; start < provisional.length; start += DROP_BATCH) {
        droppedNow += await this.drop(client, provisional.slice(start, start + DROP_BATCH));
        used = (await readRedisMemory(client)).used;
        if (used <= target) break;
      }
    } while (cursor !== '0' && used > target);
    if (used > target) {
      const oldest = oldestFirst(kept);
      for (let start = 0; start < oldest.length && used > target; start += KEPT_DROP_BATCH) {
        droppedNow += await this.drop(client, oldest.slice(start, start + KEPT_DROP_BATCH).map((candidate) => candidate.key));
        used = (await readRedisMemory(client)).used;
      }
    }
    if (used > limit) this.sweepAfter = Date.now() + SWEEP_BACKOFF_MS;
    this.report(droppedNow, usedBefore, used, limit);
  }

  /** Drops the states at `keys` that nobody holds a lock on and no open tab holds; returns how many were dropped. */
  private async drop(client: RedisClient, keys: string[]): Promise<number> {
    const openTab = this.options.openTabKey;
    const answers = await Promise.all(
      keys.map((key) => this.host.script(client, DROP_UNUSED_SCRIPT, openTab ? [key, `${key}:lock`, openTab(key.slice(this.tokenStart, -1))] : [key, `${key}:lock`], [])),
    );
    const dropped = answers.filter((answer) => answer === 1).length;
    this.dropped += dropped;
    return dropped;
  }

  private report(droppedNow: number, usedBefore: number, usedAfter: number, limit: number): void {
    this.droppedUnlogged += droppedNow;
    const stillOver = usedAfter > limit;
    const now = Date.now();
    // Once a minute at most, and once per episode of staying over the limit with nothing left to drop.
    if ((this.droppedUnlogged > 0 && now - this.loggedAt >= LOG_EVERY_MS) || (stillOver && !this.overLogged)) {
      const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;
      this.options.logger.warn(
        `RedisStateStore: Redis used ${mb(usedBefore)}, over the state store's memory limit of ${mb(limit)}: dropped ${this.droppedUnlogged} ` +
          `states nobody was using (a tab that comes back with one starts from a fresh state); Redis now uses ${mb(usedAfter)}.` +
          (stillOver ? ' What is left is in use or is not the store\'s: give Redis more memory, or lower stateTtlSeconds.' : ''),
      );
      this.loggedAt = now;
      this.droppedUnlogged = 0;
      this.overLogged = stillOver;
    }
  }
}

/** What `INFO memory` says of Redis's memory. */
export interface RedisMemoryReading {
  /** `used_memory`, in bytes. */
  used: number;
  /** `maxmemory`, in bytes; 0 when Redis has none. */
  maxmemory: number;
  /** `maxmemory_policy` (`noeviction`, `allkeys-lru`, ...); `''` when Redis does not say. */
  policy: string;
}

/** Reads `used_memory`, `maxmemory` and `maxmemory_policy` from `INFO memory`. */
export async function readRedisMemory(client: RedisClient): Promise<RedisMemoryReading> {
  const info = String(await client.sendCommand(['INFO', 'memory']));
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  const used = field('used_memory');
  if (!Number.isFinite(used)) throw new Error('INFO memory without used_memory');
  const maxmemory = field('maxmemory');
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? '';
  return { used, maxmemory: Number.isFinite(maxmemory) ? maxmemory : 0, policy };
}

/** Least time left first: a kept state's expiry restarts at each use, so that is the one used longest ago. */
const oldestFirst = (candidates: Candidate[]) => [...candidates].sort((a, b) => a.pttl - b.pttl);

/** `prefix` as literal text in a `SCAN MATCH` pattern. */
const escapeGlob = (prefix: string) => prefix.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
