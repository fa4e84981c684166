import { type CanActivate, type ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';

/** The shop's ordinary HTTP guard, reused unchanged on event handlers: requires a logged-in user. */
@Injectable()
export class LoggedInGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ user?: unknown }>();
    if (!request.user) throw new UnauthorizedException('Please log in first.');
    return true;
  }
}
