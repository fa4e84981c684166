import { type CanActivate, type ExecutionContext, HttpException, HttpStatus, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { LoginAttempts } from './login-attempts.service.js';

/** The message of a login refused by the per-username limit: the same for every username, existing or not. */
export const TOO_MANY_LOGIN_ATTEMPTS = 'Too many login attempts for this username; try again later.';

/**
 * The per-username login limit on `POST /auth/login` ({@link LoginAttempts}): past it, `429` with `Retry-After`
 * (seconds) and {@link TOO_MANY_LOGIN_ATTEMPTS}, before passport checks the password. Runs after `ThrottlerGuard`,
 * so an address over its own limit does not use up the account's attempts.
 */
@Injectable()
export class LoginAttemptsGuard implements CanActivate {
  constructor(private readonly attempts: LoginAttempts) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const body = http.getRequest<Request>().body as { username?: unknown } | undefined;
    const waitMs = await this.attempts.admit(body?.username);
    if (waitMs === 0) return true;
    http.getResponse<Response>().setHeader('Retry-After', String(Math.ceil(waitMs / 1000)));
    throw new HttpException({ statusCode: HttpStatus.TOO_MANY_REQUESTS, message: TOO_MANY_LOGIN_ATTEMPTS }, HttpStatus.TOO_MANY_REQUESTS);
  }
}
