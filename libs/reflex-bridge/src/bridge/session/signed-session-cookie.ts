import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalString } from '../../common/canonical-string.js';

/**
 * The session id inside an express-session cookie (`s:<id>.<signature>`, cookie-signature's format), or
 * `undefined` when the cookie is missing or its signature does not match any of the secrets. Lets fast auth
 * find a session's snapshot without running the session middleware, and never trusts a forged id.
 */
export function unsignSessionCookie(value: string | undefined, secrets: readonly string[]): string | undefined {
  if (!value?.startsWith('s:')) return undefined;
  const signed = value.slice(2);
  const dot = signed.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const id = signed.slice(0, dot);
  const signature = Buffer.from(signed.slice(dot + 1));
  for (const secret of secrets) {
    const expected = Buffer.from(createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, ''));
    if (expected.length === signature.length && timingSafeEqual(expected, signature)) return id;
  }
  return undefined;
}

/**
 * {@link unsignSessionCookie} with a bounded memo of the cookie values it verified. A socket presents the
 * same cookie on every event, and the HMAC is the largest per-event cost of fast auth; a value whose
 * signature checked out once always checks out (the secrets are fixed for the verifier's life), so its id
 * is remembered. Only successes are kept: a forged or tampered value is checked again every time, and
 * cannot push verified values out of the memo.
 */
export class SessionCookieVerifier {
  private readonly verified = new Map<string, string>();

  /**
   * @param secrets The session secrets (express-session's `secret`), as {@link unsignSessionCookie} takes them.
   * @param maxEntries How many verified cookie values to remember; the oldest is forgotten first.
   */
  constructor(
    private readonly secrets: readonly string[],
    private readonly maxEntries = 10_000,
  ) {}

  /** The session id of a signed cookie value, or `undefined` when it is missing or forged. */
  unsign(value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    const known = this.verified.get(value);
    if (known !== undefined) return known;
    const unsigned = unsignSessionCookie(value, this.secrets);
    if (unsigned === undefined || this.maxEntries <= 0) return unsigned;
    // The id is a slice of the cookie; the snapshot cache keys its entries by the canonical copy.
    const id = canonicalString(unsigned);
    if (this.verified.size >= this.maxEntries) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(value, id);
    return id;
  }

  /** How many verified values are remembered (for tests). */
  get size(): number {
    return this.verified.size;
  }
}
