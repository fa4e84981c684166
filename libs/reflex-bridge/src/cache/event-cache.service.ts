import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { createCache, type Cache } from 'cache-manager';
import type { Keyv } from 'keyv';
import { createKeyv } from '@keyv/redis';
import { Subject, type Observable } from 'rxjs';
import type { RequestHandler } from 'express';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import type { AuthSnapshot, EventCacheInvalidation } from './event-cache.options.js';
import { MemorySnapshots } from './memory-snapshots.js';

/** A request shape with what logout detection needs (Express + express-session + passport). */
interface LogoutAwareRequest {
  sessionID?: string;
  session?: { destroy?: (callback?: (error?: unknown) => void) => unknown } | null;
  logout?: (...args: unknown[]) => unknown;
}

/**
 * The event cache: per session id, the auth snapshot `{userId, isAuthenticated}` written after an event
 * ran the session and auth middleware, read by fast auth. In memory by default (a plain map with the TTL,
 * read synchronously: no serialisation, no deadline, since nothing can hang); with `eventCache.redisUrl` (or
 * a Keyv `store`) it goes through cache-manager over Keyv, so every worker shares it.
 *
 * The cache is an optimisation, never a dependency: a failing or slow backend counts as a miss, is logged
 * once per outage, and the event goes through the middleware.
 */
@Injectable()
export class EventCacheService implements OnModuleDestroy {
  private readonly logger = new Logger('ReflexBridge');
  private readonly cache?: Cache;
  private readonly keyv?: Keyv;
  private readonly memory?: MemorySnapshots;
  private readonly invalidations = new Subject<EventCacheInvalidation>();
  private failing = false;

  constructor(@Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions) {
    const { ttlSeconds, store, redisUrl } = options.eventCache;
    if (ttlSeconds === 0) return;
    if (!store && !redisUrl) {
      this.memory = new MemorySnapshots(ttlSeconds * 1000);
      return;
    }
    const namespace = options.eventCache.keyPrefix.replace(/:$/, '');
    this.keyv = store ?? createRedisKeyv(redisUrl!, namespace);
    this.keyv.on('error', (error: Error) => this.reportFailure(error));
    this.cache = createCache({ stores: [this.keyv], ttl: ttlSeconds * 1000 });
  }

  /** False when `ttlSeconds` is 0: nothing is read or written. */
  get enabled(): boolean {
    return this.cache !== undefined || this.memory !== undefined;
  }

  /** Every invalidation, as it happens (logout on this worker, or an explicit call). */
  get invalidated$(): Observable<EventCacheInvalidation> {
    return this.invalidations.asObservable();
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
   * {@link EventCacheService.get} for the bridge's hot path: the in-memory cache answers synchronously, so
   * fast auth costs no promise; a shared backend answers with a promise (never rejecting).
   * @internal
   */
  peek(sessionId: string): AuthSnapshot | undefined | Promise<AuthSnapshot | undefined> {
    if (this.memory) return this.memory.get(sessionId);
    if (!this.cache) return undefined;
    return this.guard(() => this.cache!.get<AuthSnapshot>(this.key(sessionId)), undefined);
  }

  /**
   * {@link EventCacheService.set} for the bridge's hot path: synchronous in memory, a promise (never
   * rejecting) on a shared backend.
   * @internal
   */
  put(sessionId: string, snapshot: AuthSnapshot): void | Promise<void> {
    if (this.memory) return this.memory.set(sessionId, snapshot);
    if (!this.cache) return;
    return this.guard(() => this.cache!.set(this.key(sessionId), snapshot), undefined).then(() => undefined);
  }

  /** Drops one session's snapshot: call it on logout (the bridge does for logouts it sees). */
  async invalidate(sessionId: string, reason: EventCacheInvalidation['reason'] = 'manual'): Promise<void> {
    if (this.memory) this.memory.delete(sessionId);
    else if (this.cache) await this.guard(() => this.cache!.del(this.key(sessionId)), undefined);
    this.invalidations.next({ sessionId, reason });
  }

  /** Drops every snapshot under this cache's prefix. */
  async invalidateAll(): Promise<void> {
    if (this.memory) this.memory.clear();
    else if (this.keyv) await this.guard(() => this.keyv!.clear(), undefined);
    this.invalidations.next({ reason: 'all' });
  }

  /**
   * Express middleware for the app's HTTP side: wraps `req.logout()` and `req.session.destroy()` so a logout
   * over HTTP invalidates the session's snapshot too. One line: `app.use(app.get(EventCacheService).logoutHook())`
   * after the session and passport middleware.
   */
  logoutHook(): RequestHandler {
    return (req, _res, next) => {
      this.watchLogout(req as unknown as LogoutAwareRequest);
      next();
    };
  }

  /** Wraps a request's logout and session destroy so they invalidate its snapshot first. */
  watchLogout(req: LogoutAwareRequest): void {
    const sessionId = req.sessionID;
    if (!sessionId) return;
    const invalidate = () => this.invalidate(sessionId, 'logout');
    const logout = req.logout;
    if (typeof logout === 'function') {
      req.logout = (...args: unknown[]) => {
        void invalidate();
        return logout.apply(req, args);
      };
    }
    const session = req.session;
    const destroy = session?.destroy;
    if (session && typeof destroy === 'function') {
      session.destroy = (callback?: (error?: unknown) => void) => {
        void invalidate();
        return destroy.call(session, callback);
      };
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.keyv?.disconnect().catch(() => undefined);
  }

  /** Keys are session ids; the Keyv namespace adds the prefix (`rx:event:<session id>`). */
  private key(sessionId: string): string {
    return sessionId;
  }

  /** Runs a cache operation with a deadline; a failure or timeout yields `fallback`. */
  private async guard<T>(operation: () => Promise<T>, fallback: T): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        operation(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.options.eventCache.operationTimeoutMs} ms`)), this.options.eventCache.operationTimeoutMs);
        }),
      ]);
      if (this.failing) {
        this.failing = false;
        this.logger.log('The event cache answers again.');
      }
      return result;
    } catch (error) {
      this.reportFailure(error as Error);
      return fallback;
    } finally {
      clearTimeout(timer);
    }
  }

  private reportFailure(error: Error): void {
    if (this.failing) return;
    this.failing = true;
    this.logger.warn(`The event cache is unavailable; events go through the middleware until it is back: ${error?.message ?? error}`);
  }
}

/** Keyv over Redis (`@keyv/redis`), failing fast instead of queueing commands while Redis is down. */
function createRedisKeyv(url: string, namespace: string): Keyv {
  return createKeyv({ url, disableOfflineQueue: true }, { namespace, throwOnConnectError: false, throwOnErrors: true });
}
