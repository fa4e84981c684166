import { randomUUID } from 'node:crypto';
import type { LoggerService } from '@nestjs/common';
import { withinDeadline } from '../../common/deadline.js';
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

/** A connection that sends raw commands. */
export interface RedisCommandSender {
  sendCommand(args: string[]): Promise<unknown>;
}

/** One Redis server that holds states, and a connection to it alone. */
export interface GuardedRedisServer extends RedisCommandSender {
  /** For the log: the store's URL (without credentials) for one Redis, a master's `host:port` on a cluster. */
  readonly name: string;
}

/** What a {@link RedisMemoryGuard} needs of the store it guards. */
export interface RedisMemoryGuardHost {
  /**
   * The servers that hold the store's states, each with its own connection: the one Redis, or each master of a Redis
   * Cluster (its memory and keys are its own); none while the store is down or closed.
   */
  servers(): GuardedRedisServer[];
  /** The store's command connection, which routes a command to the server of its first key on a Redis Cluster. */
  commands(): RedisCommandSender | undefined;
  /** Runs one of the store's scripts on one token's keys (EVALSHA, then EVAL when Redis does not know it). */
  script(script: RedisLockScript, keys: string[], args: string[]): Promise<unknown>;
}

/** How a {@link RedisMemoryGuard} is set up. */
export interface RedisMemoryGuardOptions {
  /** Used memory of Redis, in bytes, above which states nobody uses are dropped; `'auto'`: a share of Redis's `maxmemory`. */
  limit: number | 'auto';
  /** Milliseconds between two readings of Redis's used memory. */
  checkIntervalMs: number;
  /**
   * Milliseconds each of the guard's commands may take: past it the check gives up until the next reading, so a
   * frozen server (a master of a cluster) holds neither the others' checks nor the next ones.
   */
  commandTimeoutMs: number;
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
 * It reads `INFO memory` every `checkIntervalMs` (one command per server, no cost per event). Over the limit, one
 * worker at a time (a lease key) walks the store's states with `SCAN` and drops them with a script that leaves those
 * in use. On a Redis Cluster each master holds part of the states and has its own memory: each is read, held to the
 * limit (or to 80% of its own `maxmemory`) and swept on its own.
 */
export class RedisMemoryGuard {
  private timer?: NodeJS.Timeout;
  /** The check in progress, if any: one at a time per store. */
  private running?: Promise<void>;
  private readonly leaseValue = randomUUID();
  private readonly pattern: string;
  /** Where a state's key puts its token: `<prefix>v2:{` before it, `}` after. */
  private readonly tokenStart: number;
  /** States dropped over the limit since the store started. */
  private dropped = 0;
  /** Dropped since the last warning, and when that was. */
  private droppedUnlogged = 0;
  private loggedAt = 0;
  /** Servers (by name) that a sweep left over the limit, and that the log said so of. */
  private readonly overLogged = new Set<string>();
  /** No sweep of a server (by name) before this time (see {@link SWEEP_BACKOFF_MS}). */
  private readonly sweepAfter = new Map<string, number>();
  /** Redis refused one of the guard's commands, and it was said. */
  private refusalLogged = false;

  constructor(
    private readonly host: RedisMemoryGuardHost,
    private readonly options: RedisMemoryGuardOptions,
  ) {
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
    const servers = this.host.servers();
    const commands = this.host.commands();
    if (!commands) return;
    // Side by side: each master's memory is its own, and a slow one does not hold up the others.
    await Promise.all(servers.map((server) => this.checkServer(server, commands, servers.length > 1).catch((error: unknown) => this.failed(error))));
  }

  /**
   * A check that failed: Redis down, slow or frozen, which the store reports as its own outages; the next reading tries
   * again. A command Redis refuses (renamed or forbidden by an ACL, on some managed services) would be refused every
   * time: said once.
   */
  private failed(error: unknown): void {
    if (this.refusalLogged || !(error instanceof Error) || !/^(ERR unknown command|NOPERM)/.test(error.message)) return;
    this.refusalLogged = true;
    this.options.logger.warn(
      `RedisStateStore: Redis refused what the memory limit needs (${error.message}); the limit is not enforced. It needs INFO, SCAN, PTTL, SET, ` +
        'EVALSHA and EVAL; or set memoryLimitBytes (redisMemoryLimitBytes) to false.',
    );
  }

  /** Reads one server's memory and, over the limit, sweeps it under a lease (on a cluster, one lease per master). */
  private async checkServer(server: GuardedRedisServer, commands: RedisCommandSender, oneOfMany: boolean): Promise<void> {
    const memory = await this.timed(readRedisMemory(server));
    const limit = this.options.limit === 'auto' ? (memory.maxmemory > 0 ? Math.floor(memory.maxmemory * AUTO_LIMIT_SHARE) : 0) : this.options.limit;
    if (limit <= 0 || memory.used <= limit) {
      this.overLogged.delete(server.name);
      return;
    }
    if (Date.now() < (this.sweepAfter.get(server.name) ?? 0)) return;
    // The lease key of one Redis keeps its old name; on a cluster each master has its own (on whichever master).
    const leaseKey = `${this.options.keyPrefix}v2:memory-sweep${oneOfMany ? `:${server.name}` : ''}`;
    const leased: unknown = await this.timed(commands.sendCommand(['SET', leaseKey, this.leaseValue, 'NX', 'PX', String(SWEEP_LEASE_MS)]));
    if (leased !== 'OK') return;
    try {
      await this.sweep(server, commands, limit, memory.used);
    } finally {
      await this.timed(this.host.script(RELEASE_LEASE_SCRIPT, [leaseKey], [this.leaseValue]));
    }
  }

  /**
   * Drops unused states until Redis uses {@link SWEEP_TARGET_SHARE} of `limit`: first every provisional one met on
   * the way through the states, then, if that was not enough, the others met, those used longest ago first.
   */
  private async sweep(server: GuardedRedisServer, commands: RedisCommandSender, limit: number, usedBefore: number): Promise<void> {
    const target = Math.floor(limit * SWEEP_TARGET_SHARE);
    let used = usedBefore;
    let droppedNow = 0;
    let kept: Candidate[] = [];
    let cursor = '0';
    do {
      const [next, keys] = (await this.timed(server.sendCommand(['SCAN', cursor, 'MATCH', this.pattern, 'COUNT', String(SCAN_COUNT)]))) as [string, string[]];
      cursor = next;
      if (keys.length === 0) continue;
      // Sent together: node-redis writes the commands of one tick in one go. Routed by key: on a cluster, a key met on
      // this master may have moved to another since.
      const ttls = (await this.timed(Promise.all(keys.map((key) => commands.sendCommand(['PTTL', key]))))) as number[];
      const provisional: string[] = [];
      keys.forEach((key, i) => {
        const pttl = ttls[i]!;
        if (pttl < 0) return; // gone meanwhile (or no expiry: not a state this store wrote)
        if (pttl <= this.options.unusedTtlMs) provisional.push(key);
        else kept.push({ key, pttl });
      });
      if (kept.length > MAX_KEPT_CANDIDATES) kept = oldestFirst(kept).slice(0, MAX_KEPT_CANDIDATES / 2);
      for (let start = 0; start < provisional.length; start += DROP_BATCH) {
        droppedNow += await this.drop(provisional.slice(start, start + DROP_BATCH));
        used = (await this.timed(readRedisMemory(server))).used;
        if (used <= target) break;
      }
    } while (cursor !== '0' && used > target);
    if (used > target) {
      const oldest = oldestFirst(kept);
      for (let start = 0; start < oldest.length && used > target; start += KEPT_DROP_BATCH) {
        droppedNow += await this.drop(oldest.slice(start, start + KEPT_DROP_BATCH).map((candidate) => candidate.key));
        used = (await this.timed(readRedisMemory(server))).used;
      }
    }
    if (used > limit) this.sweepAfter.set(server.name, Date.now() + SWEEP_BACKOFF_MS);
    else this.sweepAfter.delete(server.name);
    this.report(server.name, droppedNow, usedBefore, used, limit);
  }

  /** Drops the states at `keys` that nobody holds a lock on and no open tab holds; returns how many were dropped. */
  private async drop(keys: string[]): Promise<number> {
    const openTab = this.options.openTabKey;
    let dropped = 0;
    // Counted as each answer comes: a batch past its deadline still counts the drops answered after it.
    const count = (answer: unknown) => {
      if (answer !== 1) return;
      dropped++;
      this.dropped++;
    };
    await this.timed(
      Promise.all(keys.map((key) => this.host.script(DROP_UNUSED_SCRIPT, openTab ? [key, `${key}:lock`, openTab(key.slice(this.tokenStart, -1))] : [key, `${key}:lock`], []).then(count))),
    );
    return dropped;
  }

  /** `sent`, or a rejection once it took longer than `commandTimeoutMs` (caught by the check, which gives up). */
  private timed<T>(sent: Promise<T>): Promise<T> {
    return withinDeadline(sent, this.options.commandTimeoutMs);
  }

  private report(server: string, droppedNow: number, usedBefore: number, usedAfter: number, limit: number): void {
    this.droppedUnlogged += droppedNow;
    const stillOver = usedAfter > limit;
    const now = Date.now();
    // Once a minute at most, and once per episode of a server staying over the limit with nothing left to drop.
    if ((this.droppedUnlogged > 0 && now - this.loggedAt >= LOG_EVERY_MS) || (stillOver && !this.overLogged.has(server))) {
      const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;
      this.options.logger.warn(
        `RedisStateStore: Redis (${server}) used ${mb(usedBefore)}, over the state store's memory limit of ${mb(limit)}: dropped ${this.droppedUnlogged} ` +
          `states nobody was using (a tab that comes back with one starts from a fresh state); Redis now uses ${mb(usedAfter)}.` +
          (stillOver ? ' What is left is in use or is not the store\'s: give Redis more memory, or lower stateTtlSeconds.' : ''),
      );
      this.loggedAt = now;
      this.droppedUnlogged = 0;
      if (stillOver) this.overLogged.add(server);
      else this.overLogged.delete(server);
    }
  }
}

/** What `INFO memory` says of Redis's memory. */
export interface RedisMemoryReading {
  /**
   * The memory Redis holds against its `maxmemory`, in bytes: `used_memory` less `mem_not_counted_for_evict` (the
   * replication and AOF buffers), as Redis itself counts it before it refuses writes.
   */
  used: number;
  /** `maxmemory`, in bytes; 0 when Redis has none. */
  maxmemory: number;
  /** `maxmemory_policy` (`noeviction`, `allkeys-lru`, ...); `''` when Redis does not say. */
  policy: string;
}

/** Reads `used_memory`, `mem_not_counted_for_evict`, `maxmemory` and `maxmemory_policy` from `INFO memory`. */
export async function readRedisMemory(client: RedisCommandSender): Promise<RedisMemoryReading> {
  const info = String(await client.sendCommand(['INFO', 'memory']));
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  const used = field('used_memory');
  if (!Number.isFinite(used)) throw new Error('INFO memory without used_memory');
  // A replica's backlog or an AOF rewrite's buffer is not what states hold, and dropping states cannot shrink it.
  const notCounted = field('mem_not_counted_for_evict');
  const maxmemory = field('maxmemory');
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? '';
  return { used: used - (Number.isFinite(notCounted) ? notCounted : 0), maxmemory: Number.isFinite(maxmemory) ? maxmemory : 0, policy };
}

/** Least time left first: a kept state's expiry restarts at each use, so that is the one used longest ago. */
const oldestFirst = (candidates: Candidate[]) => [...candidates].sort((a, b) => a.pttl - b.pttl);

/** `prefix` as literal text in a `SCAN MATCH` pattern. */
const escapeGlob = (prefix: string) => prefix.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
