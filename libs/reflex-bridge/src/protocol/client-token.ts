/** Longest client token, in characters: a longer value holds none. */
export const MAX_CLIENT_TOKEN_CHARS = 128;
/** Client tokens Reflex generates are uuid4; accept any similar opaque id, nothing that could smuggle data. */
const CLIENT_TOKEN_PATTERN = new RegExp(`^[A-Za-z0-9_-]{8,${MAX_CLIENT_TOKEN_CHARS}}$`);

/** True when `value` has the shape of a client token: 8 to 128 characters from `[A-Za-z0-9_-]`. */
export function isClientToken(value: unknown): value is string {
  return typeof value === 'string' && CLIENT_TOKEN_PATTERN.test(value);
}
