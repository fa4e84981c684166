import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { INestApplication } from '@nestjs/common';
import express from 'express';
import { OriginPolicy, SameOriginMiddleware } from '@reflex-bridge/nest';
import type { AuthMiddleware } from './auth/auth-middleware.js';
import type { SessionUser } from './auth/user.entity.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The folder of an installed package (its `exports` hide the browser builds from `require.resolve`). */
function packageRoot(name: string): string {
  const entry = fileURLToPath(import.meta.resolve(name));
  return entry.slice(0, entry.lastIndexOf(`node_modules/${name}`) + `node_modules/${name}`.length);
}

/**
 * The shop's plain HTTP side: the page and its scripts, and logout/me routes using the same session and passport
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
  http.use('/vendor/socket.io-client', express.static(join(packageRoot('socket.io-client'), 'dist')));
  http.use('/vendor/reflex-client', express.static(dirname(fileURLToPath(import.meta.resolve('@reflex-bridge/client')))));
  http.use('/', express.static(join(here, '..', 'public')));

  http.post('/auth/logout', (req, res, next) => {
    req.logout((error) => (error ? next(error) : res.json({ ok: true })));
  });
  http.get('/auth/me', (req, res) => {
    res.json({ user: (req.user as SessionUser | undefined)?.username ?? null });
  });
}
