import { type CanActivate, type ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import type { SessionUser } from '../auth/user.entity.js';

/**
 * Staff only: the staff HTTP routes and the staff's event handlers refuse anyone else with 403. On an event handler
 * (`full` tier) it runs before an upload's body is read, so a shopper's upload to a staff handler stores nothing.
 */
@Injectable()
export class StaffGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const user = context.switchToHttp().getRequest<Request>().user as SessionUser | undefined;
    if (!user?.staff) throw new ForbiddenException('Staff only.');
    return true;
  }
}
