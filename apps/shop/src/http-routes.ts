import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { INestApplication } from '@nestjs/common';
import express from 'express';
import { OriginPolicy, SameOriginMiddleware } from '@reflex-bridge/nest';
import type { AuthMiddleware } from './auth/auth-middleware.js';
import type { SessionUser } from './auth/user.entity.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The built web app (`vite build` of apps/shop/web; `npm run build` makes it). */
const WEB_DIST = join(here, '..', 'web', 'dist');

/**
 * The shop's plain HTTP side: the web app (its built files and its deep links), and logout/me routes using the same session and passport
 * middleware the bridge runs for events. `POST /auth/login` is `LoginController` (rate limited).
 */
export function mountHttpRoutes(app: INestApplication, auth: AuthMiddleware): void {
  const http = app.getHttpAdapter().getInstance() as express.Express;
  // A frontend served from its own origin (FRONTEND_ORIGINS: the corsOrigins of the bridge's origin policy) calls
  // these routes with the user's cookies and must read the answers: CORS with credentials, for those origins only.
  const origins = app.get(OriginPolicy);
  app.enableCors({
    origin: (origin: string | undefined, allow: (error: Error | null, allowed?: boolean) => void) => allow(null, typeof origin === 'string' && origin !== 'null' && origins.isListed(origin)),
    credentials: true,
  });
  // CSRF defence for every state-changing route below and in the controllers (login, logout, staff, likes):
  // a browser POST/PATCH/DELETE from another origin than the shop's own or FRONTEND_ORIGINS gets a 403.
  app.use(app.get(SameOriginMiddleware).use);
  app.use(...auth.chain);
  // TEMPORARY, until the library's `spa` option serves the built app (with caching and a complete deep-link
  // fallback): the built files, and index.html for the app's own client-side routes (/cart, /product/:id).
  http.use('/', express.static(WEB_DIST));
  http.get(['/cart', '/product/*rest'], (_req, res) => res.sendFile(join(WEB_DIST, 'index.html')));

  http.post('/auth/logout', (req, res, next) => {
    req.logout((error) => (error ? next(error) : res.json({ ok: true })));
  });
  http.get('/auth/me', (req, res) => {
    res.json({ user: (req.user as SessionUser | undefined)?.username ?? null });
  });
}
