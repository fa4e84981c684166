import type { SecurityFinding, SecurityFindingCode } from './security-finding.js';

/**
 * The largest `maxMessageBytes` the audit accepts: 1 MiB. Events carry form values, ids and small objects; files
 * travel over HTTP (`POST /_upload`, streamed to disk with their own limits), so no legitimate event frame comes
 * near this. Every connection may make the server buffer up to twice the limit and parse it as JSON, so a larger
 * limit only buys an attacker memory and CPU per connection. The default (1,000,000) is under it.
 */
export const MAX_MESSAGE_BYTES_THRESHOLD = 1_048_576;

/** The longest fast-auth window the audit accepts, in seconds. */
export const FAST_AUTH_TTL_THRESHOLD_SECONDS = 60;

/** Why each finding matters, how to fix it, and the option involved: fixed per code, documented in docs/security.md. */
const CATALOG: Record<SecurityFindingCode, Omit<SecurityFinding, 'code' | 'problem' | 'seen'>> = {
  session_cookie_not_secure: {
    why: 'browsers send a cookie without Secure over plain HTTP too, where anyone on the network path can read it and take over the session',
    fix: "set cookie: { secure: true } (or 'auto') in express-session and serve the app over HTTPS; behind a TLS proxy also set bridge.trustProxy: true",
    option: 'express-session cookie.secure',
  },
  session_cookie_not_httponly: {
    why: 'page scripts can read a cookie without HttpOnly, so one XSS flaw hands the session id to an attacker; the bridge never needs scripts to read it (logins over events use the cookie handoff)',
    fix: 'set cookie: { httpOnly: true } in express-session (its default; remove httpOnly: false)',
    option: 'express-session cookie.httpOnly',
  },
  session_cookie_samesite_none: {
    why: 'SameSite=None sends the session cookie on requests other sites start (forms, images, fetches), which opens cross-site request forgery; browsers reject SameSite=None without Secure altogether',
    fix: "use sameSite: 'lax' (or 'strict'); keep 'none' (with secure: true) only for a frontend on another site, listed in corsOrigins",
    option: 'express-session cookie.sameSite',
  },
  session_middleware_fails: {
    why: 'a session middleware that fails a new request fails every request that runs it: pages and API routes answer 500, event connections are refused, and its cookie flags and secret cannot be checked. express-session given no secret (session({ secret: process.env.SESSION_SECRET }) with the variable unset) starts without a word and then fails each request this way',
    fix: 'give express-session its secret, a random value of at least 32 bytes (openssl rand -base64 48) from the environment or a secret manager, and make the app refuse to start when it is missing',
    option: 'express-session secret',
  },
  session_secret_default: {
    why: 'session cookies are signed with this secret; a published default lets anyone forge a signed cookie for any session id they learn or plant (session fixation)',
    fix: 'generate a random secret of at least 32 bytes (openssl rand -base64 48), pass it from the environment or a secret manager, and give fastAuth.sessionSecret the same value',
    option: 'express-session secret (and fastAuth.sessionSecret)',
  },
  session_secret_weak: {
    why: 'a short or repetitive secret can be brute-forced offline from one signed cookie, after which cookies can be forged',
    fix: 'use a random secret of at least 32 characters (openssl rand -base64 48) from the environment or a secret manager',
    option: 'express-session secret (and fastAuth.sessionSecret)',
  },
  fast_auth_secret_not_accepted: {
    why: 'fast auth verifies session cookies with its own copy of the secrets: a cookie signed with a secret the session middleware no longer accepts (retired to revoke the cookies signed with it, after a leak) still authenticates auth_only events as its session\'s user, for as long as that session has a snapshot',
    fix: 'give fastAuth.sessionSecret exactly the secrets of the session middleware, and retire a secret from both at once',
    option: 'fastAuth.sessionSecret (and express-session secret)',
  },
  session_store_in_memory: {
    why: "express-session's MemoryStore keeps sessions in one process: with several workers a login on one is unknown to the others (users appear logged out at random), and it leaks memory",
    fix: 'use a shared session store, e.g. connect-redis on the same Redis, and set the sessionStore option so session ends reach every worker',
    option: 'express-session store',
  },
  state_store_in_memory: {
    why: "an in-memory state store keeps each tab's state in one process: with several workers a tab that reconnects to another worker loses its state",
    fix: 'set redisUrl (a RedisStateStore is then used) or pass a shared stateStore',
    option: 'stateStore / redisUrl',
  },
  workers_without_redis: {
    why: 'without redisUrl each worker has its own event cache, token records, live fan-out and Socket.IO adapter: live updates and logouts do not reach sockets on other workers, and a token can be held twice',
    fix: 'set redisUrl to one Redis shared by every worker',
    option: 'redisUrl',
  },
  redis_maxmemory_unset: {
    why: "clients can open tabs faster than their states expire (each state holds up to 180 kB of what its tab sent, for at least unusedStateTtlSeconds), and nothing bounds what they leave: Redis grows until the host runs out of memory and kills it, with every session and state in it. The state store's own limit is 80% of maxmemory by default, so without one it does nothing",
    fix: 'set maxmemory in redis.conf to what the host can give Redis (e.g. maxmemory 2gb) with maxmemory-policy noeviction; or give redisMemoryLimitBytes a number of bytes',
    option: 'Redis maxmemory (and redisMemoryLimitBytes)',
  },
  redis_evicts_keys: {
    why: "a full Redis then deletes keys without a word, and every key the module writes has a TTL, so the volatile-* policies pick them too: a token's lock while its event runs (another worker can then run the same tab's events at once), states (tabs start afresh) and sessions (users logged out)",
    fix: 'set maxmemory-policy noeviction: a full Redis refuses writes instead, and the state store keeps it under 80% of maxmemory by dropping states nobody uses',
    option: 'Redis maxmemory-policy',
  },
  redis_without_password: {
    why: 'whoever reaches that address can read and change every session, state and cached user the module keeps there (logging in as anyone), and run commands on the Redis host: an open Redis is a common way into a server',
    fix: 'give Redis a password (requirepass, or an ACL user for the app), put it in the URL (redis://app:<password>@host:6379, or redisCluster.defaults.password), use rediss:// over networks you do not trust, and let only the workers reach the port',
    option: 'redisUrl / redisCluster / sessionStore.redisUrl',
  },
  origin_allowlist_off: {
    why: 'corsOrigins: true lets a page on any site open the event socket and redeem cookie handoffs with the user\'s cookies, so any site the user visits can act as them',
    fix: 'list the frontends that need access, e.g. corsOrigins: [\'https://app.example.com\'], or leave corsOrigins unset (your own origin only)',
    option: 'corsOrigins',
  },
  http_cors_any_origin: {
    why: "the app's own CORS answers any origin with credentials: a page on any site can read responses made with the user's cookies (or, with '*', browsers refuse every credentialed response, so the setting is broken as well as unsafe)",
    fix: 'give app.enableCors({ origin: [...] , credentials: true }) the list of your frontends, not true, a reflecting function or "*"',
    option: 'app.enableCors / cors middleware origin',
  },
  devtools_enabled: {
    why: 'devtools show users, session hashes, SQL and state of every event to whoever opens their page',
    fix: 'turn devtools off outside development (with production: true they are refused at startup)',
    option: 'devtools',
  },
  trust_proxy_unset: {
    why: "behind a proxy, without bridge.trustProxy every client has the proxy's address (rate limits per IP then count everyone together), HTTPS is not seen (secure cookies are not issued over events) and the origin policy computes the wrong own origin",
    fix: 'set bridge.trustProxy: true when a proxy you control sets X-Forwarded-For / X-Forwarded-Proto; if nothing should set these headers, strip them at the edge',
    option: 'bridge.trustProxy',
  },
  trust_proxy_bypassed: {
    why: 'with bridge.trustProxy the last X-Forwarded-For entry is the client address, which the proxy writes; a client that reaches the worker without the proxy writes it itself: a new address per connection passes every per-address limit (connections, rate limits, login attempts), and X-Forwarded-Proto and X-Forwarded-Host are taken from it as well',
    fix: "let only the proxy reach the workers: listen on loopback (app.listen(port, '127.0.0.1')) or firewall their ports; unset bridge.trustProxy where no proxy sits in front",
    option: 'bridge.trustProxy (and the address the app listens on)',
  },
  express_trust_proxy_any: {
    why: "with trust proxy true Express trusts every hop, so req.ip is the first X-Forwarded-For entry, the one the client writes itself (a proxy appends to what it got): each request can claim a new address, so per-address limits on HTTP routes (ThrottlerGuard on a login) count nothing, and logs record forged addresses",
    fix: "trust only your proxy: app.set('trust proxy', 1) for one proxy in front (nginx), or its address ('loopback', '10.0.0.2'), as bridge.trustProxy takes the last entry",
    option: "Express app.set('trust proxy')",
  },
  request_target_unguarded: {
    why: "a request for * (OPTIONS *, HTTP's server-wide OPTIONS) skips express-session, whose cookie path it does not start with, and passport's session middleware then throws: every such request is a 500 with an error and its stack in the log, so any client can fill the log in a loop (eight connections wrote 34 MB in 10 s)",
    fix: 'mount the module\'s RequestTargetMiddleware before your session and passport middleware: app.use(app.get(RequestTargetMiddleware).use), then app.use(...authMiddleware)',
    option: 'app.use order (RequestTargetMiddleware first)',
  },
  fast_auth_ttl_long: {
    why: 'fast auth trusts a cached "still logged in" for up to eventCache.ttlSeconds: a session revoked where the module cannot see it keeps working on auth_only events that long',
    fix: `set eventCache.ttlSeconds to ${FAST_AUTH_TTL_THRESHOLD_SECONDS} or less (the default is 60), and set sessionStore when sessions live in Redis; put @AuthMaxAge on handlers that must see a revoked session sooner`,
    option: 'eventCache.ttlSeconds (with fastAuth)',
  },
  error_detail_exposed: {
    why: "without production: true clients receive exception names and messages, which can reveal SQL, file paths, internal hosts or other users' data",
    fix: 'set production: true on every server users reach',
    option: 'production',
  },
  max_message_bytes_high: {
    why: `events carry form values and ids, and files go over HTTP (/_upload); every connection can make the server buffer up to twice maxMessageBytes and parse it, so a limit above ${MAX_MESSAGE_BYTES_THRESHOLD} bytes only gives attackers memory and CPU`,
    fix: `set maxMessageBytes to what your largest event needs (at most ${MAX_MESSAGE_BYTES_THRESHOLD}; the default is 1000000) and send files as uploads`,
    option: 'maxMessageBytes',
  },
};

/** Every finding code the audit knows. */
export function securityFindingCodes(): SecurityFindingCode[] {
  return Object.keys(CATALOG) as SecurityFindingCode[];
}

/** A finding of `code` with this app's `problem`, completed from the catalogue. */
export function securityFinding(code: SecurityFindingCode, problem: string, seen: SecurityFinding['seen'] = 'startup'): SecurityFinding {
  return { code, problem, ...CATALOG[code], seen };
}

/** One log line: `[code] problem. Why: ... Fix: ...`. */
export function describeFinding(finding: SecurityFinding): string {
  return `[${finding.code}] ${finding.problem}. Why: ${finding.why}. Fix: ${finding.fix} (${finding.option}).`;
}
