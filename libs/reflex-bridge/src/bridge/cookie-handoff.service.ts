import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';

interface Handoff {
  setCookies: string[];
  /** The cookies (name → value) the browser must still present, so a leaked token alone is useless. */
  expectedCookies: Record<string, string | undefined>;
  expiresAt: number;
}

/** How long a handoff token can be redeemed. */
const HANDOFF_TTL_MS = 30_000;

/**
 * Login and logout over an event change the session cookie, which a WebSocket cannot set and page
 * scripts must not read (it stays HttpOnly). The bridge parks the `Set-Cookie` headers here under a
 * single-use, short-lived token; the client redeems it with one HTTP call that receives them.
 * Redeeming also requires the browser to present the session cookies it had when the event ran.
 */
@Injectable()
export class CookieHandoffService {
  private readonly handoffs = new Map<string, Handoff>();

  /** Parks `setCookies` and returns the token to redeem them with. */
  issue(setCookies: string[], expectedCookies: Record<string, string | undefined>): string {
    this.sweep();
    const token = randomBytes(24).toString('base64url');
    this.handoffs.set(token, { setCookies, expectedCookies, expiresAt: Date.now() + HANDOFF_TTL_MS });
    return token;
  }

  /**
   * The `Set-Cookie` headers for `token`, once: a replayed, expired or unknown token, or a browser that
   * does not present the expected cookies, gets `undefined`.
   */
  redeem(token: string, presentedCookies: Record<string, string>): string[] | undefined {
    const handoff = this.handoffs.get(token);
    if (!handoff) return undefined;
    this.handoffs.delete(token);
    if (handoff.expiresAt < Date.now()) return undefined;
    for (const [name, value] of Object.entries(handoff.expectedCookies)) {
      if (presentedCookies[name] !== value) return undefined;
    }
    return handoff.setCookies;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, handoff] of this.handoffs) if (handoff.expiresAt < now) this.handoffs.delete(token);
  }
}
