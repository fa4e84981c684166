import { ForbiddenException } from '@nestjs/common';
import type { Request } from 'express';
import type { SessionUser } from '../auth/user.entity.js';

/** Staff only: the HTTP staff routes and the staff's event handlers refuse anyone else with 403. */
export function requireStaff(request: Request): SessionUser {
  const user = request.user as SessionUser | undefined;
  if (!user?.staff) throw new ForbiddenException('Staff only.');
  return user;
}
