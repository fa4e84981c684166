/** Matches a UUID in its canonical 8-4-4-4-12 hex form (any version, either case). */
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `value` is a UUID string in canonical form, the token shape the server accepts. */
export function isToken(value: unknown): value is string {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}

/** The token shape a ReflexBridge server takes in a handshake: 8 to 128 URL-safe characters (a UUID is one). */
const HANDSHAKE_TOKEN_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;

/**
 * True when a server takes `value` back as a token in the handshake query: a token the server gave (`new_token`)
 * need not be a UUID, and one that was accepted and stored must still be used after a reload.
 */
export function isHandshakeToken(value: unknown): value is string {
  return typeof value === 'string' && HANDSHAKE_TOKEN_PATTERN.test(value);
}

/**
 * Makes a new client token (a random UUID v4) with the Web Crypto API found on `globalThis.crypto`
 * (Node 20 and browsers). `crypto.randomUUID()` is used when present; browsers offer it only on secure
 * origins, so elsewhere the UUID is built from `crypto.getRandomValues()`.
 * @throws Error when no Web Crypto API is available.
 */
export function generateToken(): string {
  const webCrypto = (globalThis as { crypto?: Partial<Crypto> }).crypto;
  if (typeof webCrypto?.randomUUID === 'function') return webCrypto.randomUUID();
  if (typeof webCrypto?.getRandomValues !== 'function') {
    throw new Error('No Web Crypto API (globalThis.crypto) is available to generate a client token.');
  }
  const bytes = webCrypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
