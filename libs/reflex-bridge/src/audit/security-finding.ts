/**
 * The stable codes of the security audit's findings, one per mistake (see docs/security.md, "The startup
 * security audit"). Codes never change meaning, so logs can be searched and alerts keyed on them.
 */
export type SecurityFindingCode =
  | 'session_cookie_not_secure'
  | 'session_cookie_not_httponly'
  | 'session_cookie_samesite_none'
  | 'session_middleware_fails'
  | 'session_secret_default'
  | 'session_secret_weak'
  | 'fast_auth_secret_not_accepted'
  | 'session_store_in_memory'
  | 'state_store_in_memory'
  | 'workers_without_redis'
  | 'redis_maxmemory_unset'
  | 'redis_evicts_keys'
  | 'redis_without_password'
  | 'origin_allowlist_off'
  | 'http_cors_any_origin'
  | 'devtools_enabled'
  | 'trust_proxy_unset'
  | 'trust_proxy_bypassed'
  | 'express_trust_proxy_any'
  | 'request_target_unguarded'
  | 'fast_auth_ttl_long'
  | 'error_detail_exposed'
  | 'max_message_bytes_high';

/** One thing the security audit found wrong with the running configuration. */
export interface SecurityFinding {
  /** Stable code, e.g. `session_cookie_not_secure`. */
  readonly code: SecurityFindingCode;
  /** What is wrong, in this app (values included, secrets never). */
  readonly problem: string;
  /** Why it matters: what an attacker or an outage gets from it. */
  readonly why: string;
  /** How to fix it. */
  readonly fix: string;
  /** The option or setting to change (`corsOrigins`, express-session's `cookie.secure`, ...). */
  readonly option: string;
  /** `startup` for the review at bootstrap; `traffic` for what only requests show (a proxy's headers). */
  readonly seen: 'startup' | 'traffic';
}
