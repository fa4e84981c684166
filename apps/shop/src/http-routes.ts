import type { INestApplication } from '@nestjs/common';
import type express from 'express';
import { OriginPolicy, RequestTargetMiddleware, SameOriginMiddleware } from '@reflex-bridge/nest';
import type { AuthMiddleware } from './auth/auth-middleware.js';
import type { SessionUser } from './auth/user.entity.js';
import { SessionLogouts } from './auth/session-logouts.service.js';

/**
 * The shop's plain HTTP side: CORS, the same-origin check, and logout/me routes using the same session and passport
 * middleware the bridge runs for events. `POST /auth/login` is `LoginController` (rate limited).
 */
export function mountHttpRoutes(app: INestApplication, auth: AuthMiddleware): void {
  const http = app.getHttpAdapter().getInstance() as express.Express;
  // A frontend served from its own origin (FRONTEND_ORIGINS: the corsOrigins of the bridge's origin policy) calls
  // these routes with the user's cookies and must read the answers: CORS with credentials, for those origins only.
  const origins = app.get(OriginPolicy);
  // First: a target that is not a path (`OPTIONS *`) is answered here; express-session skips it, and passport's
  // session middleware would then throw (a 500 and a stack in the log for each).
  app.use(app.get(RequestTargetMiddleware).use);
  app.enableCors({
    origin: (origin: string | undefined, allow: (error: Error | null, allowed?: boolean) => void) => allow(null, typeof origin === 'string' && origin !== 'null' && origins.isListed(origin)),
    credentials: true,
  });
  // CSRF defence for every state-changing route below and in the controllers (login, logout, staff, likes):
  // a browser POST/PATCH/DELETE from another origin than the shop's own or FRONTEND_ORIGINS gets a 403.
  app.use(app.get(SameOriginMiddleware).use);
  app.use(...auth.chain);
  const logouts = app.get(SessionLogouts);
  http.post('/auth/logout', (req, res, next) => {
    // Nobody logged in: passport would still regenerate the session and store a new empty one, for good in the
    // in-memory store (one per request a client cares to send). Once per session however many requests ask at the
    // same time (see SessionLogouts).
    if (!req.user) return void res.json({ ok: true });
    logouts.logOut(req).then(() => res.json({ ok: true }), next);
  });
  http.get('/auth/me', (req, res) => {
    // Who is logged in: never kept by a shared cache, nor by the browser for the next user of the machine.
    res.setHeader('Cache-Control', 'no-store');
    res.json({ user: (req.user as SessionUser | undefined)?.username ?? null });
  });
}
