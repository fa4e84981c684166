import type { INestApplication } from '@nestjs/common';
import express, { type RequestHandler } from 'express';
import session from 'express-session';
import passportModule from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { BENCH_LOGIN } from '../harness/wire.js';

/** A user of the bench app. */
export interface BenchUser {
  id: number;
  username: string;
  role: string;
}

const USERS: BenchUser[] = [{ id: 1, username: BENCH_LOGIN.username, role: 'user' }];

/** Looks a user up by id, as passport's `deserializeUser` (and fast auth's `loadUser`) does. */
export function findUser(id: unknown): BenchUser | undefined {
  return USERS.find((user) => user.id === Number(id));
}

/** The secret express-session signs its cookie with (fast auth needs it to read the session id). */
export const SESSION_SECRET = 'bench secret, not for production';
export const SESSION_COOKIE = 'connect.sid';

/** The app's HTTP auth stack, shared by HTTP routes and the bridge (as a real app does). */
export interface AuthStack {
  session: RequestHandler;
  passport: passportModule.PassportStatic;
  /** What `bridge.authMiddleware` gets: session, then passport. */
  authMiddleware: RequestHandler[];
  /** How often the session middleware ran (HTTP and bridge): tells whether fast auth skipped it. */
  calls: { session: number };
}

/**
 * express-session with its MemoryStore (the issue 5 benchmark adds a Redis-backed store through
 * connect-redis: pass `store` here) and passport-local, configured like the e2e fixtures.
 */
export function createAuthStack(store: session.Store = new session.MemoryStore()): AuthStack {
  const passport = new passportModule.Passport() as unknown as passportModule.PassportStatic;
  passport.use(
    new LocalStrategy((username, password, done) => {
      const ok = username === BENCH_LOGIN.username && password === BENCH_LOGIN.password;
      done(null, ok ? USERS[0] : false);
    }),
  );
  passport.serializeUser((user, done) => done(null, (user as BenchUser).id));
  passport.deserializeUser((id: number, done) => done(null, findUser(id) ?? false));
  const sessionMiddleware = session({
    name: SESSION_COOKIE,
    secret: SESSION_SECRET,
    resave: false,
    saveUninitialized: false,
    store,
    cookie: { httpOnly: true, sameSite: 'lax' },
  });
  const calls = { session: 0 };
  const counted: RequestHandler = (req, res, next) => {
    calls.session++;
    return sessionMiddleware(req, res, next);
  };
  return { session: counted, passport, calls, authMiddleware: [counted, passport.initialize(), passport.session()] };
}

/** Mounts the stack on the app's HTTP side with `POST /login` (JSON `{username, password}`). */
export function mountHttpAuth(app: INestApplication, stack: AuthStack): void {
  app.use(stack.session, stack.passport.initialize(), stack.passport.session());
  const http = app.getHttpAdapter().getInstance() as express.Express;
  http.post('/login', express.json(), stack.passport.authenticate('local'), (_req, res) => {
    res.json({ ok: true });
  });
}
