import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { UseGuards } from '@nestjs/common';
import { Throttle } from '@nestjs/throttler';
import type { Request } from 'express';
import { AppState, BridgeError, EventHandler, EventRequest, EventUploads, Payload, State, type UploadFile } from '@reflex-bridge/nest';
import { ImageStore } from '../uploads/image-store.js';
import { LoggedInGuard } from './logged-in.guard.js';
import type { SessionUser } from './user.entity.js';
import { UserService } from './user.service.js';
import { LOGIN_LIMIT } from './login-limit.js';
import { LoginAttempts } from './login-attempts.service.js';
import { SessionLogouts } from './session-logouts.service.js';
import { TOO_MANY_LOGIN_ATTEMPTS } from './login-attempts.guard.js';

/**
 * Login and logout from the page, over the event socket; the snapshot vars drive the header.
 *
 * What belongs to one user (the staff hint, the avatar) is kept with whose it is, and shown only while the snapshot
 * names that user: a logout or another login in another tab of the browser re-syncs only the snapshot vars of this
 * tab's state, and a plain var would go on showing the previous user's.
 */
@State()
export class AccountState extends AppState {
  loginError = '';
  /** The user the staff hint was read for (`''`: nobody is staff here). */
  _staffOf = '';
  /** The last uploaded avatar's URL, and whose it is. */
  _avatar = '';
  _avatarOf = '';

  constructor(
    private readonly users: UserService,
    private readonly images: ImageStore,
    private readonly attempts: LoginAttempts,
    private readonly logouts: SessionLogouts,
  ) {
    super();
  }

  /** Whether the signed-in user is staff: a UI hint (the page shows staff controls), never an authorisation. */
  get isStaff(): boolean {
    return this.isAuthenticated && this._staffOf !== '' && this._staffOf === this.username;
  }

  /** The signed-in shopper's avatar, served by `GET /_upload/avatars/...`; empty until they upload one. */
  get avatarUrl(): string {
    return this.isAuthenticated && this._avatarOf !== '' && this._avatarOf === this.username ? this._avatar : '';
  }

  /**
   * At most {@link LOGIN_LIMIT} attempts per client IP, whatever the number of sockets, and `LOGIN_ACCOUNT_LIMIT`
   * per username from every address, counted with `POST /auth/login`'s (then `rate_limited`, alike for every username).
   */
  @EventHandler()
  @Throttle({ default: LOGIN_LIMIT })
  async login(@Payload('username') username: string, @Payload('password') password: string, @EventRequest() request: Request | undefined): Promise<void> {
    // PROFILE=reflex_only runs every event on tier none: no request, so no session to log into.
    if (!request) {
      this.loginError = 'Logging in is not available here: events run without the session (reflex_only).';
      return;
    }
    const waitMs = await this.attempts.admit(username);
    if (waitMs > 0) throw new BridgeError('rate_limited', TOO_MANY_LOGIN_ATTEMPTS, undefined, 429, waitMs);
    const user = await this.users.verify(username, password);
    if (!user) {
      this.loginError = 'Unknown user or wrong password.';
      return;
    }
    await promisify(request.logIn.bind(request))(user as never);
    this.loginError = '';
    this._staffOf = user.staff ? user.username : '';
  }

  /**
   * As a bridged event it refreshes the auth snapshot (after a page load), and the staff hint and avatar with it: the
   * avatar may have been replaced from another tab (and the one this tab held removed), or never set in this tab.
   */
  @EventHandler()
  async refresh(@EventRequest() request: Request | undefined): Promise<void> {
    // No request under PROFILE=reflex_only (tier none): nobody is signed in as far as events know.
    const user = request?.user as SessionUser | undefined;
    this._staffOf = user?.staff ? user.username : '';
    if (!user) return;
    this._avatar = await this.images.current(avatarFolder(user));
    this._avatarOf = user.username;
  }

  @EventHandler()
  async logout(@EventRequest() request: Request | undefined): Promise<void> {
    // Nobody to log out: passport would still regenerate the session, and the new cookie would need a handoff. Under
    // PROFILE=reflex_only there is no request at all (tier none), so nobody either. Once per session however many
    // tabs send it at the same time (see SessionLogouts).
    if (request?.user) await this.logouts.logOut(request);
    this._staffOf = '';
  }

  /**
   * The shopper's avatar (buffered upload). Login-guarded: a logged-out upload is refused before its body is read.
   * The file is kept only when its first bytes say it is an image, under a random name (128 bits) in the user's folder,
   * in place of the user's earlier avatar.
   */
  @EventHandler()
  @UseGuards(LoggedInGuard)
  async uploadAvatar(@EventUploads() files: UploadFile[], @EventRequest() request: Request | undefined): Promise<void> {
    // No guard runs where events run on tier none (PROFILE=reflex_only): no request, so nobody to keep an avatar for.
    const user = request?.user as SessionUser | undefined;
    if (!user) throw new BridgeError('unauthorized', 'Please log in first.', undefined, 401);
    // A random name: the file server serves anyone who knows the path, and `user-<id>` let anyone fetch every user's
    // avatar by counting. Each avatar gets a new path (so browsers fetch it again), and the user's earlier one goes.
    this._avatar = await this.images.keep(files, avatarFolder(user), randomBytes(16).toString('base64url'), { replaces: '' });
    this._avatarOf = user.username;
  }
}

/** Where a user's avatar is kept: a folder of its own, holding the current avatar only. */
function avatarFolder(user: SessionUser): string {
  return `avatars/user-${user.id}`;
}
