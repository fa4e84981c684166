import { Injectable, type ExecutionContext } from '@nestjs/common';
import type { RequestHandler } from 'express';
import { MiddlewareTierGuard } from './middleware-tier.guard.js';

/**
 * The `full` tier: `bridge.authMiddleware`, then `bridge.fullMiddleware`, on the event's synthetic request
 * (fast auth never applies). The handler's own Nest guards, interceptors, pipes and exception filters run
 * afterwards, around the handler call, as on an HTTP route.
 *
 * Hooks for a subclass: `shouldSkip(context)`, `getChain(context)` and `runChain(context, chain)`.
 * @publicApi
 */
@Injectable()
export class FullTierGuard extends MiddlewareTierGuard {
  private fullChainCache?: readonly RequestHandler[];

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (this.shouldSkip(context)) return true;
    return this.runChain(context, this.getChain(context));
  }

  /** The middleware this tier runs: auth then full middleware, joined once. */
  protected getChain(_context: ExecutionContext): readonly RequestHandler[] {
    return (this.fullChainCache ??= [...this.authChain, ...(this.options.bridge.fullMiddleware ?? [])]);
  }
}
