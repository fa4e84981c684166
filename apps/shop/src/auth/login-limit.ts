/**
 * Login attempts allowed per client IP and minute, over HTTP (`POST /auth/login`) and over events
 * (`AccountState.login`), each with its own counter: enough for a person who mistypes, far too few for guessing.
 */
export const LOGIN_LIMIT = { limit: 5, ttl: 60_000 } as const;

/**
 * Login attempts allowed per username and quarter of an hour, from every address, over HTTP and events together:
 * the per-address limit alone let a guesser with many addresses try {@link LOGIN_LIMIT} passwords a minute from each.
 * Past it, that username is refused (429, even with the right password) until the window ends, whether or not
 * an account has it.
 */
export const LOGIN_ACCOUNT_LIMIT = { limit: 10, ttl: 15 * 60_000 } as const;
