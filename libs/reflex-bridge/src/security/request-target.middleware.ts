import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { requestPathname } from '../common/request-pathname.js';
import { addressKeyingOf, type AddressKeying } from './client-address.js';
import { answerWithoutBody } from './answer-without-body.js';

/**
 * Answers a request whose target is not a path before the app's middleware sees it: `OPTIONS *` (HTTP's server-wide
 * OPTIONS) gets `204`, any other such target (`GET *`, `GET foo`) `400 {"code":"invalid_request_target"}`.
 *
 * Why: express-session skips a request whose path does not start with its cookie's path, and `*` has none, so
 * `req.session` stays unset and `passport.session()` throws. Every such request then cost a `500` and an error with its
 * stack in the log: eight connections sending `OPTIONS *` for ten seconds wrote 34 MB of log. Mount it first, before
 * the session and passport middleware (`bridge.authMiddleware` mounted for HTTP).
 * @example
 * ```ts
 * // main.ts, before everything else:
 * app.use(app.get(RequestTargetMiddleware).use);
 * app.use(...authMiddleware);
 * ```
 * @publicApi
 */
@Injectable()
export class RequestTargetMiddleware implements NestMiddleware {
  private readonly keying: AddressKeying;

  constructor(@Inject(RESOLVED_OPTIONS) options: ResolvedReflexBridgeOptions) {
    this.keying = addressKeyingOf(options);
  }

  /** The middleware itself, bound, so `app.use(middleware.use)` works. */
  readonly use = (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void): void => {
    if (requestPathname(request).startsWith('/')) {
      next();
      return;
    }
    if (request.method === 'OPTIONS' && ((request as IncomingMessage & { originalUrl?: string }).originalUrl ?? request.url) === '*') {
      answerWithoutBody(response, this.keying, 204, 'text/plain', '');
      return;
    }
    answerWithoutBody(response, this.keying, 400, 'application/json', JSON.stringify({ code: 'invalid_request_target', message: 'The request target must be a path (or * with OPTIONS).' }));
  };
}
