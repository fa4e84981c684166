import { randomBytes } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { createKeyv } from '@keyv/redis';
import { Keyv } from 'keyv';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';

interface Handoff {
  setCookies: string[];
  /** The cookies (name → value) the browser must still present, so a leaked token alone is useless. */
  expectedCookies: Record<string, string | null>;
  expiresAt: number;
}

/** How long a handoff token can be redeemed. */
const HANDOFF_TTL_MS = 30_000;

/**
 * Login and logout over an event change the session cookie, which a WebSocket cannot set and page
 * scripts must not read (it stays HttpOnly). The bridge parks the `Set-Cookie` headers here under a
 * single-use, short-lived token; the client redeems it with one HTTP call that receives them.
 * Redeeming also requires the browser to present the session cookies it had when the event ran.
 * With `redisUrl` the handoffs live in Redis, so the HTTP call may reach any worker.
 */
@Injectable()
export class CookieHandoffService implements OnModuleDestroy {
  private readonly handoffs: Keyv<Handoff>;

  constructor(@Inject(RESOLVED_OPTIONS) options: Pick<ResolvedReflexBridgeOptions, 'redisUrl'>) {
    this.handoffs = options.redisUrl
      ? (createKeyv({ url: options.redisUrl, disableOfflineQueue: true }, { namespace: 'rx:handoff', throwOnConnectError: false }) as Keyv<Handoff>)
      : new Keyv<Handoff>({ namespace: 'rx:handoff' });
    this.handoffs.on('error', () => undefined); // a failed handoff is reported to the browser as spent
  }

  /** Parks `setCookies` and returns the token to redeem them with. */
  async issue(setCookies: string[], expectedCookies: Record<string, string | undefined>): Promise<string> {
    const token = randomBytes(24).toString('base64url');
    const expected = Object.fromEntries(Object.entries(expectedCookies).map(([name, value]) => [name, value ?? null]));
    await this.handoffs.set(token, { setCookies, expectedCookies: expected, expiresAt: Date.now() + HANDOFF_TTL_MS }, HANDOFF_TTL_MS);
    return token;
  }

  /**
   * The `Set-Cookie` headers for `token`, once: a replayed, expired or unknown token, or a browser that
   * does not present the expected cookies, gets `undefined`.
   */
  async redeem(token: string, presentedCookies: Record<string, string>): Promise<string[] | undefined> {
    const handoff = await this.handoffs.get(token).catch(() => undefined);
    // Whoever deletes the entry redeems it: a concurrent replay finds it gone.
    if (!handoff || !(await this.handoffs.delete(token).catch(() => false))) return undefined;
    if (handoff.expiresAt < Date.now()) return undefined;
    for (const [name, value] of Object.entries(handoff.expectedCookies)) {
      if ((presentedCookies[name] ?? null) !== value) return undefined;
    }
    return handoff.setCookies;
  }

  async onModuleDestroy(): Promise<void> {
    await this.handoffs.disconnect().catch(() => undefined);
  }
}
