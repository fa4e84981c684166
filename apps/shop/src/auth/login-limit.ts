/**
 * Login attempts allowed per client IP and minute, over HTTP (`POST /auth/login`) and over events
 * (`AccountState.login`), each with its own counter: enough for a person who mistypes, far too few for guessing.
 */
export const LOGIN_LIMIT = { limit: 5, ttl: 60_000 } as const;
