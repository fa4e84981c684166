import { createHmac, timingSafeEqual } from 'node:crypto';

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
