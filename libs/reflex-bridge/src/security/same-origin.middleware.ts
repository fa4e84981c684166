import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, type NestMiddleware } from '@nestjs/common';
import { OriginPolicy } from './origin-policy.js';

/** Methods that must not change anything, so a cross-site request with them is harmless (and links need them). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/**
 * CSRF defence for the app's own HTTP routes: a state-changing request (POST, PUT, PATCH, DELETE, ...) that a
 * browser sent from another origin is answered `403 {"code":"origin_not_allowed"}` before any route runs.
 * Same-origin requests, origins listed in `corsOrigins`, and non-browser clients (no `Origin`, no
 * `Sec-Fetch-Site`) pass. It is the same {@link OriginPolicy} that guards the event socket and the cookie handoff,
 * so one `corsOrigins` list governs all three. Safe methods (GET, HEAD, OPTIONS) always pass: keep them free of
 * side effects.
 * @example
 * ```ts
 * // main.ts, before the routes it protects (plain Express routes and Nest controllers alike):
 * app.use(app.get(SameOriginMiddleware).use);
 * // or in a module: consumer.apply(SameOriginMiddleware).forRoutes('*');
 * ```
 * @publicApi
 */
@Injectable()
export class SameOriginMiddleware implements NestMiddleware {
  constructor(private readonly policy: OriginPolicy) {}

  /** The middleware itself, bound, so `app.use(middleware.use)` works. */
  readonly use = (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void): void => {
    if (SAFE_METHODS.has(request.method ?? 'GET')) {
      next();
      return;
    }
    const verdict = this.policy.check(request);
    if (verdict.allowed) {
      next();
      return;
    }
    this.policy.reportRefusal(verdict, `a ${request.method} request`);
    response.statusCode = 403;
    response.setHeader('Content-Type', 'application/json');
    response.setHeader('Cache-Control', 'no-store');
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.end(JSON.stringify({ code: 'origin_not_allowed', message: 'Requests from this origin are not allowed here.' }));
  };
}
