import { Inject, Injectable, NotFoundException, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { acceptsPage } from './page-acceptance.js';
import { requestPathname } from '../common/request-pathname.js';
import type { PathMatcher } from './reserved-paths.js';
import type { AddressKeying } from '../security/client-address.js';
import { pathRule } from './spa.options.js';

/** DI token of the {@link SpaFallbackRules} the SPA's serve-static module reads. */
export const SPA_FALLBACK_RULES = Symbol('ReflexSpaFallbackRules');

/** What the fallback gate needs: where the SPA lives and what the fallback leaves alone. */
export interface SpaFallbackRules {
  /** False when no SPA is served or its fallback is off: the gate registers nothing. */
  enabled: boolean;
  /** The build directory, holding `index.html`. */
  rootPath: string;
  base: string;
  exclusion: PathMatcher;
  /** How a request's client address is keyed: a page request's unread body lingers on its address's share. */
  addressKeying: AddressKeying;
  /** `spa.idleTimeoutMs`: how long an answer may go without its client taking a byte of it. */
  idleTimeoutMs: number;
}

/**
 * Keeps the deep-link fallback from answering a request that does not accept HTML or prefers JSON (see
 * {@link acceptsPage}): a `fetch('/api/missing')` must get a 404 with a JSON body, not `index.html` with 200 (which
 * a client would fail to parse, far from the cause), and `Accept: text/html;q=0` says the page is not acceptable.
 *
 * A provider of the SPA's `ServeStaticModule` (its `extraProviders`): Nest runs a module's providers' init hooks
 * before the module class's own, so this handler is registered after the app's routes and before serve-static's
 * files and fallback. It hands the request on as a `NotFoundException`, which Nest's exception handler answers
 * like any unmatched route (`{"statusCode":404,"message":"Cannot GET /x","error":"Not Found"}`).
 */
@Injectable()
export class SpaFallbackGate implements OnModuleInit {
  constructor(
    @Inject(SPA_FALLBACK_RULES) private readonly rules: SpaFallbackRules,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter || !this.rules.enabled) return;
    const { base, exclusion } = this.rules;
    // In any letter case, as Express routes the fallback (`<base>/{*any}`) and serve-static's mount: `/APP/cart` is
    // answered with the page as `/app/cart` is, so a JSON request for it must be kept off it the same way.
    const under = pathRule('spa.base', base);
    adapter.use((req: IncomingMessage, _res: ServerResponse, next: (error?: unknown) => void) => {
      if ((req.method !== 'GET' && req.method !== 'HEAD') || acceptsPage(req.headers.accept)) return next();
      const path = requestPathname(req);
      if (!under.test(path) || exclusion.test(path)) return next();
      next(new NotFoundException(`Cannot ${req.method} ${path}`));
    });
  }
}
