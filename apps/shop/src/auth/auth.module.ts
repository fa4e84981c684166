import { type DynamicModule, Module } from '@nestjs/common';
import type { ShopConfig } from '../shop.config.js';
import { AUTH_MIDDLEWARE, createAuthMiddleware, createSessionStore } from './auth-middleware.js';
import { UserService } from './user.service.js';
import { LoggedInGuard } from './logged-in.guard.js';
import { AccountState } from './account.state.js';
import { LoginController } from './login.controller.js';
import { LoginAttempts } from './login-attempts.service.js';
import { LoginAttemptsGuard } from './login-attempts.guard.js';
import { SessionLogouts } from './session-logouts.service.js';

@Module({})
export class AuthModule {
  static forRoot(config: ShopConfig): DynamicModule {
    return {
      module: AuthModule,
      controllers: [LoginController],
      providers: [
        UserService,
        LoggedInGuard,
        AccountState,
        LoginAttempts,
        LoginAttemptsGuard,
        SessionLogouts,
        {
          provide: AUTH_MIDDLEWARE,
          useFactory: async (users: UserService) => createAuthMiddleware(config, users, await createSessionStore(config)),
          inject: [UserService],
        },
      ],
      exports: [UserService, LoggedInGuard, SessionLogouts, AUTH_MIDDLEWARE],
    };
  }
}
