/** Client tokens Reflex generates are uuid4; accept any similar opaque id, nothing that could smuggle data. */
const CLIENT_TOKEN_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;

/** True when `value` has the shape of a client token: 8 to 128 characters from `[A-Za-z0-9_-]`. */
export function isClientToken(value: unknown): value is string {
  return typeof value === 'string' && CLIENT_TOKEN_PATTERN.test(value);
}
