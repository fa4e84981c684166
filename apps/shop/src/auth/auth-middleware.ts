import type { RequestHandler } from 'express';
import session from 'express-session';
import createMemoryStore from 'memorystore';
import passportModule from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { createClient } from 'redis';
import type { ShopConfig } from '../shop.config.js';
import type { SessionUser } from './user.entity.js';
import type { UserService } from './user.service.js';
import { BoundedRedisStore } from './bounded-redis-store.js';

/** Where connect-redis keeps the shop's sessions (`<prefix><session id>`); the bridge watches these keys. */
export const SESSION_KEY_PREFIX = 'shop:sess:';

/**
 * Milliseconds a session read or write may wait for Redis before the request (or event) fails: a frozen Redis
 * answers nothing, and the session middleware would otherwise wait for it for good.
 */
export const SESSION_COMMAND_TIMEOUT_MS = 2_000;

/** How the in-memory session store (no `REDIS_URL`) stays bounded. */
export interface MemorySessionLimits {
  /** Milliseconds a session lives after its last use (each request touches it). */
  ttlMs: number;
  /** How often expired sessions are swept out, in milliseconds. */
  pruneEveryMs: number;
  /** Most sessions kept; past it the least recently used one is dropped (its user logs in again). */
  maxSessions: number;
}

/**
 * The in-memory store's bounds. A day of idleness, as connect-redis' default TTL on the Redis path; the count caps
 * what a day of logins can hold (a session is well under 1 KB here: 100,000 of them stay under ~100 MB).
 */
export const MEMORY_SESSION_LIMITS: MemorySessionLimits = { ttlMs: 24 * 60 * 60 * 1000, pruneEveryMs: 10 * 60 * 1000, maxSessions: 100_000 };

/** DI token of the shop's {@link AuthMiddleware}. */
export const AUTH_MIDDLEWARE = Symbol('AuthMiddleware');

/** The session and passport middleware: built once, used for HTTP routes and handed to the bridge. */
export interface AuthMiddleware {
  passport: passportModule.PassportStatic;
  /** `[session, passport.initialize(), passport.session()]`. */
  chain: RequestHandler[];
  /** Where the session middleware keeps sessions (express-session's own MemoryStore when none was given). */
  store: session.Store;
}

export function createAuthMiddleware(config: ShopConfig, users: UserService, store?: session.Store): AuthMiddleware {
  const passport = new passportModule.Passport() as unknown as passportModule.PassportStatic;
  passport.use(
    new LocalStrategy((username, password, done) => {
      users.verify(username, password).then((user) => done(null, user ?? false), done);
    }),
  );
  passport.serializeUser((user, done) => done(null, (user as SessionUser).id));
  passport.deserializeUser((id: number, done) => {
    users.findById(id).then((user) => done(null, user ?? false), done);
  });
  const sessions = store ?? new session.MemoryStore();
  const sessionMiddleware = session({
    name: 'shop.sid',
    secret: config.sessionSecret,
    resave: false,
    saveUninitialized: false,
    store: sessions,
    cookie: { httpOnly: true, sameSite: 'lax', secure: config.production },
  });
  return { passport, chain: [sessionMiddleware, passport.initialize(), passport.session()], store: sessions };
}

/**
 * Where sessions live: Redis (connect-redis) when `REDIS_URL` is set, so a login over HTTP on one worker is
 * seen by events on every worker; otherwise a bounded in-memory store (one process only).
 */
export async function createSessionStore(config: ShopConfig, memoryLimits = MEMORY_SESSION_LIMITS): Promise<session.Store> {
  if (!config.redisUrl) {
    // Not express-session's own MemoryStore: with no cookie maxAge it keeps every session for ever (each login
    // without a logout), and even expired ones are only dropped when read again, so memory grows without bound.
    // memorystore sweeps expired sessions on a timer (unref'd) and keeps at most maxSessions, least recent out.
    const MemoryStore = createMemoryStore(session);
    return new MemoryStore({ ttl: memoryLimits.ttlMs, checkPeriod: memoryLimits.pruneEveryMs, max: memoryLimits.maxSessions });
  }
  // Fail at once while Redis is down instead of queueing: the request gets an error, not a silent wait. Named, so
  // that CLIENT LIST tells it from the bridge's own connections (rx:commands, rx:subscriber).
  const client = createClient({ url: config.redisUrl, disableOfflineQueue: true, name: 'shop:sessions' });
  client.on('error', () => undefined); // node-redis reconnects by itself; errors surface per request
  await client.connect();
  return new BoundedRedisStore({ client, prefix: SESSION_KEY_PREFIX }, SESSION_COMMAND_TIMEOUT_MS);
}
