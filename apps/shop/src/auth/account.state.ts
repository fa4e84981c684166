import { promisify } from 'node:util';
import { Throttle } from '@nestjs/throttler';
import type { Request } from 'express';
import { AppState, EventHandler, EventRequest, Payload, State } from '@reflex-bridge/nest';
import { UserService } from './user.service.js';
import { LOGIN_LIMIT } from './login-limit.js';

/** Login and logout from the page, over the event socket; the snapshot vars drive the header. */
@State()
export class AccountState extends AppState {
  loginError = '';

  constructor(private readonly users: UserService) {
    super();
  }

  /** At most {@link LOGIN_LIMIT} attempts per client IP, whatever the number of sockets (then `rate_limited`). */
  @EventHandler()
  @Throttle({ default: LOGIN_LIMIT })
  async login(@Payload('username') username: string, @Payload('password') password: string, @EventRequest() request: Request): Promise<void> {
    const user = await this.users.verify(username, password);
    if (!user) {
      this.loginError = 'Unknown user or wrong password.';
      return;
    }
    await promisify(request.logIn.bind(request))(user as never);
    this.loginError = '';
  }

  /** Does nothing itself: as a bridged event it refreshes the auth snapshot (after a page load). */
  @EventHandler()
  refresh(): void {}

  @EventHandler()
  async logout(@EventRequest() request: Request): Promise<void> {
    await promisify(request.logout.bind(request))();
  }
}
