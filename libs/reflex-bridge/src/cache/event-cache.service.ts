import { Inject, Injectable, Logger, Optional, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { Cache } from 'cache-manager';
import type { Keyv } from 'keyv';
import { Subject, type Observable } from 'rxjs';
import type { RequestHandler } from 'express';
import { SessionEndings } from '../common/session-endings.js';
import { RedisConnections } from '../common/redis-connections.js';
import { redisFailureReason } from '../common/fail-fast-redis.options.js';
import { DEADLINE_PASSED } from '../common/deadline.js';
import { StallCircuit } from '../common/stall-circuit.js';
import { SessionStoreObserver } from '../common/session-store-observer.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { InvalidOptionError } from '../invalid-option.error.js';
import type { AuthSnapshot, EventCacheInvalidation, ResolvedEventCacheOptions } from './event-cache.options.js';
import { LocalSnapshotLayer } from './local-snapshot-layer.js';
import { createOwnEventCache } from './own-event-cache.factory.js';
import { KEYV_REDIS, type CreateRedisKeyv } from '../common/keyv-redis.loader.js';
import { deleteByPrefix } from './delete-by-prefix.js';

/** A request as express-session leaves it: its session store. */
interface LogoutAwareRequest {
  sessionStore?: unknown;
}

/** What cache-manager reports of a failed operation (its `get`/`set`/`del` events). */
interface CacheOperationEvent {
  key?: string;
  error?: unknown;
}

type CacheEventName = 'get' | 'set' | 'del';
type CacheEventListener = (event: CacheOperationEvent) => void;
const WATCHED_EVENTS: readonly CacheEventName[] = ['get', 'set', 'del'];

/**
 * The event cache: per session id, the auth snapshot `{userId, isAuthenticated}` written after an event ran
 * the session and auth middleware, read by fast auth. It lives in a cache-manager `Cache`: the app's own
 * (`eventCache.cache`: the injection token of, say, `CACHE_MANAGER` from `@nestjs/cache-manager`), or one the
 * module builds (in memory; in Redis through `@keyv/redis` with `eventCache.redisUrl`). A snapshot is stored
 * under exactly `<keyPrefix><session id>`.
 *
 * In front of that asynchronous cache sits a small synchronous in-process layer ({@link LocalSnapshotLayer}),
 * so that a fast-auth hit costs no promise. With the module's own in-memory cache it holds every snapshot for
 * the full TTL; with a shared cache it holds what this worker read for `localTtlMs` only (another worker may
 * invalidate the entry: {@link EventCacheService.forgetLocally} is how this worker hears of it).
 *
 * The cache is an optimisation, never a dependency: a failing or slow backend counts as a miss, is logged
 * once per outage, and the event goes through the middleware.
 * @publicApi
 */
@Injectable()
export class EventCacheService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('ReflexBridge');
  private readonly settings: ResolvedEventCacheOptions;
  private readonly local?: LocalSnapshotLayer;
  private readonly invalidations = new Subject<EventCacheInvalidation>();
  private cache?: Cache;
  /** The Keyv store the module created for its own cache, closed on shutdown. */
  private ownedKeyv?: Keyv;
  private readonly listeners = new Map<CacheEventName, CacheEventListener>();
  /** Moves on every invalidation: a read from the cache that began before one must not refill the local layer. */
  private epoch = 0;
  private failing = false;
  /** Counts failures, so that an operation that "succeeded" while cache-manager reported an error is no recovery. */
  private failures = 0;
  /**
   * Open while an operation that outlived its time limit is unanswered (a frozen Redis keeps it): snapshot reads and
   * writes then answer a miss at once, sent nothing, rather than each waiting its own limit.
   */
  private readonly stall = new StallCircuit();
  private readonly ttlMs: number;
  /** Whether a write also fills the local layer: only when no other process can delete the entry. */
  private readonly fillOnWrite: boolean;
  /**
   * Whether the local layer holds everything the cache holds (the module's own in-memory cache, with the
   * local TTL equal to the cache's: both see the same writes and deletes, in the same order, under the same
   * bound). Then a local miss is a miss, answered synchronously, and the cache is written in the background.
   */
  private readonly localIsComplete: boolean;

  constructor(
    @Inject(RESOLVED_OPTIONS) options: ResolvedReflexBridgeOptions,
    @Optional() private readonly moduleRef?: ModuleRef,
    @Optional() endings?: SessionEndings,
    @Optional() private readonly storeObserver?: SessionStoreObserver,
    @Optional() @Inject(RedisConnections) connections?: RedisConnections | null,
    @Optional() @Inject(KEYV_REDIS) createKeyv?: CreateRedisKeyv | null,
  ) {
    // A session that ended loses its snapshot, here and in the shared cache, whichever worker saw the end.
    endings?.subscribe('caches', (end) => (end.remote ? this.dropAfterRemoteEnd(end.sessionId) : this.invalidate(end.sessionId, end.reason)));
    this.settings = options.eventCache;
    this.ttlMs = this.settings.ttlSeconds * 1000;
    this.fillOnWrite = !this.settings.shared;
    this.localIsComplete = !this.settings.shared && this.settings.localTtlMs === this.ttlMs && this.ttlMs > 0;
    if (this.settings.ttlSeconds === 0) {
      // Both settings are valid alone, so the options accept them; together fast auth never finds a snapshot.
      if (options.fastAuth) this.logger.warn('fastAuth is set but eventCache.ttlSeconds is 0, which turns the event cache off: fast auth never applies, and every auth_only event runs the session and auth middleware. Give eventCache.ttlSeconds a number of seconds above 0, or remove fastAuth.');
      return;
    }
    if (this.settings.localTtlMs > 0) this.local = new LocalSnapshotLayer(this.settings.localMaxEntries);
    // Another worker's "session ended" reaches this one over Redis pub/sub, at most once: while this worker's
    // subscriber was cut off, it missed any number of them, and cannot know which. Its local copies go, so that
    // fast auth reads the shared cache again (which the worker that saw each end cleared), not an ended session.
    if (this.local && this.settings.shared) connections?.onSubscriberBack(() => this.forgetAllLocally());
    // The app's cache is looked up once every provider exists (onModuleInit); the module's own is built now.
    if (this.settings.cache === undefined) {
      const own = createOwnEventCache(this.settings, connections, createKeyv);
      if (own.owned) this.ownedKeyv = own.keyv;
      // Connection errors of the module's own store (cache-manager reports only failed operations).
      own.keyv.on('error', (error: Error) => this.reportFailure(error));
      this.use(own.cache);
    }
  }

  /** Resolves the app's cache (`eventCache.cache`) from the app's container. */
  onModuleInit(): void {
    const token = this.settings.cache;
    if (token === undefined || this.settings.ttlSeconds === 0 || this.cache) return;
    const name = typeof token === 'function' ? token.name : String(token);
    let found: unknown;
    try {
      if (!this.moduleRef) throw new Error('no module reference');
      found = this.moduleRef.get(token, { strict: false });
    } catch {
      throw new InvalidOptionError(
        'eventCache.cache',
        `no provider for ${name}: provide a cache-manager Cache under that token (CacheModule.register({ isGlobal: true }) for CACHE_MANAGER, or { provide: ${JSON.stringify(name)}, useExisting: CACHE_MANAGER })`,
      );
    }
    const candidate = found as Partial<Cache> | null | undefined;
    if (!candidate || typeof candidate.get !== 'function' || typeof candidate.set !== 'function' || typeof candidate.del !== 'function') {
      throw new InvalidOptionError('eventCache.cache', `the provider for ${name} is not a cache-manager Cache (it needs get, set and del)`);
    }
    this.use(candidate as Cache);
  }

  /** Closes the store the module created (never the app's cache), and stops listening to the app's. */
  async onModuleDestroy(): Promise<void> {
    if (this.cache && typeof this.cache.off === 'function') {
      for (const [event, listener] of this.listeners) this.cache.off(event, listener as never);
    }
    this.listeners.clear();
    await this.ownedKeyv?.disconnect().catch(() => undefined);
  }

  /** False when `ttlSeconds` is 0: nothing is read or written. */
  get enabled(): boolean {
    return this.settings.ttlSeconds > 0;
  }

  /** Every invalidation, as it happens (logout on this worker, or an explicit call). */
  get invalidated$(): Observable<EventCacheInvalidation> {
    return this.invalidations.asObservable();
  }

  /** The key a session's snapshot is stored under in the cache: `<keyPrefix><session id>`. */
  keyOf(sessionId: string): string {
    return this.settings.keyPrefix + sessionId;
  }

  /** The snapshot for a session, or `undefined` (none, expired, disabled, or the backend failed). */
  async get(sessionId: string): Promise<AuthSnapshot | undefined> {
    return this.peek(sessionId);
  }

  /** Stores the snapshot for a session (TTL from the options). */
  async set(sessionId: string, snapshot: AuthSnapshot): Promise<void> {
    return this.put(sessionId, snapshot);
  }

  /**
   * {@link EventCacheService.get} for the bridge's hot path: a hit in the in-process layer answers
   * synchronously, so fast auth costs no promise; a miss there asks the cache (a promise, never rejecting),
   * and a hit from the cache fills the in-process layer.
   * @internal
   */
  peek(sessionId: string): AuthSnapshot | undefined | Promise<AuthSnapshot | undefined> {
    const hit = this.local?.get(sessionId);
    if (hit !== undefined || !this.cache || this.localIsComplete) return hit;
    const epoch = this.epoch;
    return this.guard(() => this.cache!.get<AuthSnapshot>(this.keyOf(sessionId)), undefined).then((found) => {
      if (!isSnapshot(found)) return undefined;
      // An invalidation while the read was under way wins: the value read may be the one it dropped.
      if (this.local && epoch === this.epoch) return this.local.set(sessionId, found, this.settings.localTtlMs);
      return found;
    });
  }

  /**
   * How many times a snapshot was dropped in this process so far: read it before loading a session's user, and
   * pass it to {@link EventCacheService.put} with the snapshot made of that user.
   * @internal
   */
  get dropCount(): number {
    return this.epoch;
  }

  /**
   * {@link EventCacheService.set} for the bridge's hot path: fills the in-process layer at once (with the
   * module's own in-memory cache) and writes the cache: in the background when the local layer is complete
   * (so the default configuration stays synchronous), else as a promise (never rejecting). With `readAt` (see
   * {@link EventCacheService.dropCount}), nothing is written when a snapshot was dropped since; with `readAtMs` (when
   * the session was read, `Date.now()`), the snapshot lives for the TTL from then, and is not written once older.
   * The snapshot keeps that time (`readAtMs`; the time of the write without it), which `@AuthMaxAge` reads.
   * @internal
   */
  put(sessionId: string, snapshot: AuthSnapshot, readAt?: number, readAtMs?: number): void | Promise<void> {
    if (!this.enabled) return;
    // A session that ended after its user was read (a logout while the event that read it was under way) must
    // not get a snapshot back: skipped whenever any snapshot was dropped since, which costs at most a miss.
    if (readAt !== undefined && readAt !== this.epoch) return;
    // The snapshot is as old as the read it was made of: a session revoked behind the module's back just after a long
    // event read it (a slow handler, an upload) is answered by fast auth for at most ttlSeconds from then, as the docs
    // promise, not for the event's duration on top.
    const ttlMs = readAtMs === undefined ? this.ttlMs : this.ttlMs - (Date.now() - readAtMs);
    if (ttlMs <= 0) return;
    const made: AuthSnapshot = { userId: snapshot.userId, isAuthenticated: snapshot.isAuthenticated, readAtMs: readAtMs ?? Date.now() };
    const stored = this.local && this.fillOnWrite ? this.local.set(sessionId, made, Math.min(this.settings.localTtlMs, ttlMs)) : made;
    if (!this.cache) return;
    const write = this.guard(() => this.cache!.set(this.keyOf(sessionId), stored, ttlMs), undefined).then(() => undefined);
    if (!this.localIsComplete) return write;
  }

  /**
   * Drops one session's snapshot from this process's in-process layer only, not from the cache. For the
   * signal that a session ended elsewhere: the worker that saw the end invalidated the shared entry already.
   */
  forgetLocally(sessionId: string): void {
    this.epoch++;
    this.local?.delete(sessionId);
  }

  /** Drops every snapshot of the in-process layer (not the shared cache); a read under way does not refill it. */
  private forgetAllLocally(): void {
    this.epoch++;
    this.local?.clear();
  }

  /** Drops one session's snapshot from both layers: call it on logout (the bridge does for logouts it sees). */
  async invalidate(sessionId: string, reason: EventCacheInvalidation['reason'] = 'manual'): Promise<void> {
    this.forgetLocally(sessionId);
    // Sent even while the cache stalls: the snapshot of an ended session must go when the backend wakes.
    if (this.cache) await this.guard(() => this.cache!.del(this.keyOf(sessionId)), undefined, undefined, true);
    this.invalidations.next({ sessionId, reason });
  }

  /**
   * A session that another worker saw end (it dropped the shared snapshot, then told this worker): forgets the local
   * copy, and drops the shared snapshot again. An event of this worker that read the session before the end and
   * finished before the news arrived wrote its snapshot back after the other worker's drop: without this second drop,
   * every worker answered that session's `auth_only` events as its user for the whole TTL after the logout. Sent
   * after that write (this worker issued it before the news arrived), so it lands after it. Not an {@link invalidated$} event: the worker
   * that saw the end reported it.
   */
  private async dropAfterRemoteEnd(sessionId: string): Promise<void> {
    this.forgetLocally(sessionId);
    if (this.cache) await this.guard(() => this.cache!.del(this.keyOf(sessionId)), undefined, undefined, true);
  }

  /**
   * Drops every snapshot under `keyPrefix`: this process's in-process layer, and the keys under the prefix in
   * each store of the cache that can list its keys (in memory, Redis). Never clears the whole cache, which
   * the app may share. A store that cannot list keys keeps its snapshots until they expire (a warning says so).
   */
  async invalidateAll(): Promise<void> {
    this.epoch++;
    this.local?.clear();
    if (this.cache) {
      const listedAll = await this.guard(() => deleteByPrefix(this.cache!, this.settings.keyPrefix), true, Math.max(this.settings.operationTimeoutMs, 10_000), true);
      if (!listedAll) {
        this.logger.warn(`invalidateAll(): a store of the event cache cannot list its keys; its snapshots under "${this.settings.keyPrefix}" expire after ${this.settings.ttlSeconds} s`);
      }
    }
    this.invalidations.next({ reason: 'all' });
  }

  /**
   * Express middleware for the app's HTTP side: makes sure the session store your session middleware uses is
   * observed, so a logout over HTTP (`req.logout()`, `req.session.destroy()`, regeneration) drops the session's
   * snapshot, on every worker with `redisUrl`. Needed only before the first event ran your `bridge.authMiddleware`
   * (the module observes that store at startup and on every bridged event). One line:
   * `app.use(app.get(EventCacheService).logoutHook())` after the session and passport middleware.
   */
  logoutHook(): RequestHandler {
    return (req, _res, next) => {
      this.watchLogout(req as unknown as LogoutAwareRequest);
      next();
    };
  }

  /** Observes the request's session store (see {@link EventCacheService.logoutHook}). */
  watchLogout(req: LogoutAwareRequest): void {
    this.storeObserver?.observe(req.sessionStore);
  }


  /** Adopts `cache`, and hears of its failed operations on this cache's keys (cache-manager reports them as events, then answers a miss). */
  private use(cache: Cache): void {
    this.cache = cache;
    if (typeof cache.on !== 'function') return;
    const prefix = this.settings.keyPrefix;
    for (const event of WATCHED_EVENTS) {
      const listener: CacheEventListener = (data) => {
        if (data?.error !== undefined && typeof data.key === 'string' && data.key.startsWith(prefix)) this.reportFailure(data.error as Error);
      };
      this.listeners.set(event, listener);
      cache.on(event, listener as never);
    }
  }

  /**
   * Runs a cache operation with a deadline; a failure or timeout yields `fallback`. While an earlier operation that
   * timed out is unanswered, yields `fallback` at once without running it, unless `mustSend` (an invalidation).
   */
  private async guard<T>(operation: () => Promise<T>, fallback: T, timeoutMs = this.settings.operationTimeoutMs, mustSend = false): Promise<T> {
    if (this.stall.isOpen && !mustSend) return fallback;
    const failuresBefore = this.failures;
    try {
      const result = await this.stall.within(operation(), timeoutMs);
      if (this.failing && this.failures === failuresBefore) {
        this.failing = false;
        this.logger.log('The event cache answers again.');
      }
      return result;
    } catch (error) {
      this.reportFailure(error === DEADLINE_PASSED ? new Error(`no answer within ${timeoutMs} ms`) : (error as Error));
      return fallback;
    }
  }

  private reportFailure(error: Error): void {
    this.failures++;
    if (this.failing) return;
    this.failing = true;
    this.logger.warn(`The event cache is unavailable; events go through the middleware until it is back: ${redisFailureReason(error)}`);
  }
}

/** Whether a value read from the cache is a snapshot (the cache may be shared: trust nothing else under the key). */
function isSnapshot(value: unknown): value is AuthSnapshot {
  if (typeof value !== 'object' || value === null) return false;
  const { userId, isAuthenticated } = value as Record<string, unknown>;
  return typeof isAuthenticated === 'boolean' && (userId === null || typeof userId === 'string' || typeof userId === 'number');
}
