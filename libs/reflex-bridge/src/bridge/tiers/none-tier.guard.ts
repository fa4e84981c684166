import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';

/**
 * The `none` tier: runs nothing and binds no request, so the event stays on the synchronous path. Subclass it
 * to refuse some `none` events (override `canActivate`, answering synchronously to keep the path promise-free).
 * @publicApi
 */
@Injectable()
export class NoneTierGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return !this.shouldRefuse(context);
  }

  /** Whether to refuse the event (`forbidden`). Never, by default. */
  protected shouldRefuse(_context: ExecutionContext): boolean {
    return false;
  }
}
