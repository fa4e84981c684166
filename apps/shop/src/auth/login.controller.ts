import { Controller, HttpCode, Inject, Next, Post, Req, Res, UseGuards } from '@nestjs/common';
import { Throttle, ThrottlerGuard } from '@nestjs/throttler';
import type { NextFunction, Request, Response } from 'express';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from './auth-middleware.js';
import { LOGIN_LIMIT } from './login-limit.js';
import { LoginAttemptsGuard } from './login-attempts.guard.js';
import type { SessionUser } from './user.entity.js';

/**
 * `POST /auth/login` (JSON or form `{ username, password }`): passport's local strategy, as a Nest controller so
 * that `ThrottlerGuard` limits it ({@link LOGIN_LIMIT} per client IP; then 429 with `Retry-After`), and then
 * `LoginAttemptsGuard` per username, from every address (`LOGIN_ACCOUNT_LIMIT`).
 */
@Controller('auth')
@UseGuards(ThrottlerGuard, LoginAttemptsGuard)
export class LoginController {
  constructor(@Inject(AUTH_MIDDLEWARE) private readonly auth: AuthMiddleware) {}

  @Post('login')
  @HttpCode(200)
  @Throttle({ default: LOGIN_LIMIT })
  login(@Req() req: Request, @Res() res: Response, @Next() next: NextFunction): void {
    // Wrong credentials: passport answers 401 itself.
    this.auth.passport.authenticate('local')(req, res, (error?: unknown) => {
      if (error) return next(error);
      res.json({ username: (req.user as SessionUser).username });
    });
  }
}
