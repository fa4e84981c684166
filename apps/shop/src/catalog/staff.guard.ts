import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { requireStaff } from './require-staff.js';

/**
 * The staff check of the HTTP staff routes as a guard, for event handlers: on the `full` tier it runs before an
 * upload's body is read, so a shopper's upload to a staff handler is refused without storing anything.
 */
@Injectable()
export class StaffGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    requireStaff(context.switchToHttp().getRequest<Request>());
    return true;
  }
}
