import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { RATE_LIMIT_STORAGE } from '@reflex-bridge/nest';
import { LOGIN_ACCOUNT_LIMIT } from './login-limit.js';

/** The throttler name the per-username counters use in the rate-limit storage. */
const THROTTLER_NAME = 'login-account';
/** At most one "storage failed" warning per this many milliseconds. */
const WARN_EVERY_MS = 30_000;

/**
 * Counts login attempts per username ({@link LOGIN_ACCOUNT_LIMIT}), for `POST /auth/login` and `AccountState.login`
 * together, in the bridge's rate-limit storage (`RATE_LIMIT_STORAGE`: Redis with REDIS_URL, so every worker counts
 * together; otherwise memory, swept of ended windows).
 *
 * Every attempt counts, before the password is checked, for any username: an account that exists and one that does
 * not are refused alike, so the limit tells nobody which names are taken. The key is a hash of the username as
 * accounts are looked up (case-folded, which only merges more names), so a counter is the same size whatever a
 * client sends as a name.
 */
@Injectable()
export class LoginAttempts {
  private readonly logger = new Logger('LoginAttempts');
  private warnedAt = -Infinity;

  constructor(@Inject(RATE_LIMIT_STORAGE) private readonly storage: ThrottlerStorage) {}

  /**
   * Counts one attempt at `username`. Resolves with 0 when it may be checked, else the milliseconds until that
   * username may be tried again. Anything but a string names no account and is not counted (it is refused anyway). A
   * storage that fails lets the attempt through (logged): the per-address limit still holds.
   */
  async admit(username: unknown): Promise<number> {
    if (typeof username !== 'string') return 0;
    const key = `login-account:${createHash('sha256').update(username.toLowerCase()).digest('base64url')}`;
    const { limit, ttl } = LOGIN_ACCOUNT_LIMIT;
    try {
      const record = await this.storage.increment(key, ttl, limit, ttl, THROTTLER_NAME);
      return record.isBlocked ? Math.max(1, record.timeToBlockExpire) * 1000 : 0;
    } catch (error) {
      if (Date.now() - this.warnedAt > WARN_EVERY_MS) {
        this.warnedAt = Date.now();
        this.logger.warn(`Login attempts per account are not counted: the rate-limit storage failed (${String(error)})`);
      }
      return 0;
    }
  }
}
