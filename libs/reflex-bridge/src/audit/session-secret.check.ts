import { createHmac } from 'node:crypto';

/**
 * Secrets found in tutorials, generators and READMEs (express-session's own example is `keyboard cat`), and the
 * example shop's development fallback. Compared case-insensitively; the audit also signs a probe cookie with each
 * to test the session middleware's secret, which it cannot read.
 */
export const COMMON_SESSION_SECRETS: readonly string[] = [
  'secret', 'keyboard cat', 'keyboard-cat', 'keyboardcat', 'changeme', 'change-me', 'change_me', 'change me', 'changeit',
  'password', 'passw0rd', 'session', 'session-secret', 'session_secret', 'sessionsecret', 'session secret', 'mysecret',
  'my-secret', 'my_secret', 'my secret', 'mysecretkey', 'my-secret-key', 'supersecret', 'super-secret', 'super secret',
  'secretkey', 'secret-key', 'secret_key', 'your-secret-key', 'your_secret_key', 'yoursecret', 'your secret', 'shhh',
  'shhhh', 'shhhhh', 'shhhhhhared-secret', 'test', 'testing', 'dev', 'development', 'default', 'foobar', 'secret123',
  'abc123', '123456', '12345678', 'nestjs', 'express', 'cats', 'key', 'shop-dev-secret-change-me',
];

/** Shortest secret the audit accepts, in characters. */
export const MIN_SECRET_LENGTH = 32;
/** Least estimated entropy the audit accepts, in bits (character frequencies × length). */
export const MIN_SECRET_BITS = 96;

/** Why `secret` is weak (`'default'`: a well-known value; `'weak'`: short or repetitive), or undefined when it is fine. */
export function secretWeakness(secret: string): { kind: 'default' | 'weak'; reason: string } | undefined {
  if (COMMON_SESSION_SECRETS.includes(secret.trim().toLowerCase())) return { kind: 'default', reason: 'a well-known default value' };
  if (secret.length < MIN_SECRET_LENGTH) return { kind: 'weak', reason: `${secret.length} characters long (fewer than ${MIN_SECRET_LENGTH})` };
  const bits = estimatedBits(secret);
  // Character frequencies alone call about one random 32-digit hex secret in 10,000 weak (a few digits come up more
  // often by chance): it is weak only when its pairs of characters repeat too, as in a word said over and over.
  if (bits < MIN_SECRET_BITS && repeatsItself(secret)) return { kind: 'weak', reason: `low in entropy (about ${Math.round(bits)} bits, fewer than ${MIN_SECRET_BITS})` };
  return undefined;
}

/** Whether fewer than half of the secret's pairs of neighbouring characters are distinct. */
function repeatsItself(secret: string): boolean {
  const chars = [...secret];
  const pairs = new Set<string>();
  for (let index = 1; index < chars.length; index += 1) pairs.add(chars[index - 1]! + chars[index]!);
  return pairs.size * 2 < chars.length - 1;
}

/** Shannon entropy of the secret's own character frequencies, times its length: a cheap upper bound for repetitive text. */
function estimatedBits(secret: string): number {
  const counts = new Map<string, number>();
  for (const char of secret) counts.set(char, (counts.get(char) ?? 0) + 1);
  const length = [...secret].length;
  let perChar = 0;
  for (const count of counts.values()) {
    const p = count / length;
    perChar -= p * Math.log2(p);
  }
  return perChar * length;
}

/** A session cookie value as express-session signs it (cookie-signature): `s:<id>.<base64 HMAC-SHA256 without padding>`. */
export function signedSessionCookie(sessionId: string, secret: string): string {
  return `s:${sessionId}.${createHmac('sha256', secret).update(sessionId).digest('base64').replace(/=+$/, '')}`;
}
