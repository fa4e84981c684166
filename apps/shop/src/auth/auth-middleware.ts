import type { RequestHandler } from 'express';
import session from 'express-session';
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

/** DI token of the shop's {@link AuthMiddleware}. */
export const AUTH_MIDDLEWARE = Symbol('AuthMiddleware');

/** The session and passport middleware: built once, used for HTTP routes and handed to the bridge. */
export interface AuthMiddleware {
  passport: passportModule.PassportStatic;
  /** `[session, passport.initialize(), passport.session()]`. */
  chain: RequestHandler[];
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
  const sessionMiddleware = session({
    name: 'shop.sid',
    secret: config.sessionSecret,
    resave: false,
    saveUninitialized: false,
    store,
    cookie: { httpOnly: true, sameSite: 'lax', secure: config.production },
  });
  return { passport, chain: [sessionMiddleware, passport.initialize(), passport.session()] };
}

/**
 * Where sessions live: Redis (connect-redis) when `REDIS_URL` is set, so a login over HTTP on one worker is
 * seen by events on every worker; otherwise express-session's in-memory store (one process only).
 */
export async function createSessionStore(config: ShopConfig): Promise<session.Store | undefined> {
  if (!config.redisUrl) return undefined;
  // Fail at once while Redis is down instead of queueing: the request gets an error, not a silent wait. Named, so
  // that CLIENT LIST tells it from the bridge's own connections (rx:commands, rx:subscriber).
  const client = createClient({ url: config.redisUrl, disableOfflineQueue: true, name: 'shop:sessions' });
  client.on('error', () => undefined); // node-redis reconnects by itself; errors surface per request
  await client.connect();
  return new BoundedRedisStore({ client, prefix: SESSION_KEY_PREFIX }, SESSION_COMMAND_TIMEOUT_MS);
}
