import type { RequestHandler } from 'express';
import session from 'express-session';
import passportModule from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import type { ShopConfig } from '../shop.config.js';
import type { SessionUser } from './user.entity.js';
import type { UserService } from './user.service.js';

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
