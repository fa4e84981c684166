import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, Optional, type OnModuleDestroy } from '@nestjs/common';
import type { RedisClientType } from '@keyv/redis';
import { KEYV_REDIS, requireRedisKeyv, type CreateRedisKeyv } from '../../common/keyv-redis.loader.js';
import type { Keyv } from 'keyv';
import { RESOLVED_OPTIONS } from '../../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../../reflex-bridge.options.js';
import { RedisConnections } from '../../common/redis-connections.js';
import { DEADLINE_PASSED, withinDeadline } from '../../common/deadline.js';
import { InMemoryHandoffStore, type HandoffStore } from './in-memory-handoff.store.js';

interface Handoff {
  setCookies: string[];
  /** SHA-256 (base64url) of the secret sent to the tab over its socket; the secret itself is not kept. */
  secretHash: string;
  /** The client token of the tab whose event changed the cookie: only that tab may redeem. */
  clientToken: string;
  /** The cookies (name → value) the browser must still present, so a leaked token alone is useless. */
  expectedCookies: Record<string, string | null>;
  expiresAt: number;
}

/** How long a handoff token can be redeemed. */
const HANDOFF_TTL_MS = 30_000;
/**
 * Handoffs one process keeps without Redis: logins and logouts of the last {@link HANDOFF_TTL_MS}, about 1 KB each.
 * Past it the oldest give way (a login 666 times a second for 30 s on one process).
 */
const MAX_IN_MEMORY_HANDOFFS = 20_000;

/**
 * Milliseconds one handoff command may take. Redis down fails at once, but a Redis that is connected and does not
 * answer (paused, overloaded) would otherwise hold the login event that issues a handoff, and the tab's request that
 * redeems one, until it answers.
 */
const HANDOFF_COMMAND_TIMEOUT_MS = 2_000;

/** Random bytes of a handoff id; in the URL, base64url: 32 characters. */
const HANDOFF_ID_BYTES = 24;
const HANDOFF_ID_SHAPE = /^[A-Za-z0-9_-]{32}$/;

/**
 * Whether `id` has the shape of an id {@link CookieHandoffService.issue} makes: anything else is refused before the
 * store is asked (with `redisUrl`, a key named by the client: any 2,000 characters, or a `{` that moves the key to
 * another Redis Cluster slot) or the request's cookies are read.
 */
export function isHandoffId(id: string): boolean {
  return HANDOFF_ID_SHAPE.test(id);
}

/** An issued handoff: the id goes in the URL, the secret only over the tab's socket. */
export interface IssuedHandoff {
  id: string;
  secret: string;
}

/** What the redeeming request presents. */
export interface HandoffProof {
  /** The cookies the browser sent (name → value). */
  cookies: Record<string, string>;
  /** The secret from the `X-Reflex-Handoff` header. */
  secret: string;
  /** The tab's client token from the `Reflex-Client-Token` header. */
  clientToken: string;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * Login and logout over an event change the session cookie, which a WebSocket cannot set and page
 * scripts must not read (it stays HttpOnly). The bridge parks the `Set-Cookie` headers here under a
 * single-use, short-lived id; the client redeems it with one HTTP call that receives them.
 * Redeeming requires proof that the call comes from the tab whose event ran: the per-handoff secret that
 * was sent over that tab's socket only (never in the URL), the same client token, and the session cookies the
 * browser had when the event ran. A page on another site that learnt the URL can therefore not make a
 * victim's browser redeem it (login CSRF). With `redisUrl` the handoffs live in Redis, so the HTTP call may
 * reach any worker: on the worker's shared {@link RedisConnections} when the module provides them (they are never
 * closed here), else on a connection of its own to `redisUrl`.
 */
@Injectable()
export class CookieHandoffService implements OnModuleDestroy {
  private readonly handoffs: HandoffStore<Handoff>;

  constructor(
    @Inject(RESOLVED_OPTIONS) options: Pick<ResolvedReflexBridgeOptions, 'redisUrl'>,
    @Optional() @Inject(RedisConnections) private readonly shared?: RedisConnections | null,
    @Optional() @Inject(KEYV_REDIS) loadedKeyv?: CreateRedisKeyv | null,
  ) {
    const keyvOptions = { namespace: 'rx:handoff', throwOnConnectError: false };
    let redis: Keyv<Handoff> | undefined;
    if (shared) {
      // The same node-redis client (on a Redis Cluster, the cluster client itself: @keyv/redis routes each handoff
      // to its slot): the `redis` package's type lists its bundled modules, @keyv/redis's does not.
      const client = (shared.clusterCommands?.cluster ?? shared.commands) as unknown as RedisClientType;
      redis = requireRedisKeyv(loadedKeyv, 'The cookie handoff')(client, keyvOptions) as Keyv<Handoff>;
    } else if (options.redisUrl) {
      redis = requireRedisKeyv(loadedKeyv, 'The cookie handoff')({ url: options.redisUrl, disableOfflineQueue: true }, keyvOptions) as Keyv<Handoff>;
    }
    redis?.on('error', () => undefined); // a failed handoff is reported to the browser as spent
    this.handoffs = redis ?? new InMemoryHandoffStore<Handoff>(MAX_IN_MEMORY_HANDOFFS);
  }

  /**
   * Parks `setCookies` for the tab holding `clientToken`; returns the id (for the URL) and the secret (for the socket).
   * `clientAddress` (the address key the rate limit counts) lets the one-process store make room from the address
   * holding the most handoffs rather than from other users' logins.
   */
  async issue(setCookies: string[], expectedCookies: Record<string, string | undefined>, clientToken: string, clientAddress?: string): Promise<IssuedHandoff> {
    // @keyv/redis reconnects a closed client on use: never touch shared connections once their owner closed them.
    if (this.shared?.isClosed) throw new Error('CookieHandoffService: the Redis connections are closed');
    const id = randomBytes(HANDOFF_ID_BYTES).toString('base64url');
    const secret = randomBytes(32).toString('base64url');
    const expected = Object.fromEntries(Object.entries(expectedCookies).map(([name, value]) => [name, value ?? null]));
    const handoff: Handoff = {
      setCookies,
      secretHash: digest(secret).toString('base64url'),
      clientToken,
      expectedCookies: expected,
      expiresAt: Date.now() + HANDOFF_TTL_MS,
    };
    try {
      await withinDeadline(this.handoffs.set(id, handoff, HANDOFF_TTL_MS, clientAddress), HANDOFF_COMMAND_TIMEOUT_MS);
    } catch (error) {
      if (error !== DEADLINE_PASSED) throw error;
      throw new Error(`CookieHandoffService: the handoff store did not answer within ${HANDOFF_COMMAND_TIMEOUT_MS} ms; the session cookies were not handed to the tab`, { cause: error });
    }
    return { id, secret };
  }

  /**
   * The `Set-Cookie` headers for `id`, once, to the tab it was issued to: a replayed, expired or unknown id, a
   * wrong secret, another tab's token, or a browser that does not present the expected cookies gets
   * `undefined`. A refused attempt does not spend the handoff (its owner can still redeem it); the secret has 256
   * bits, so guessing it is not an option.
   */
  async redeem(id: string, proof: HandoffProof): Promise<string[] | undefined> {
    if (!isHandoffId(id) || this.shared?.isClosed) return undefined;
    const handoff = await withinDeadline(this.handoffs.get(id), HANDOFF_COMMAND_TIMEOUT_MS).catch(() => undefined);
    if (!handoff || handoff.expiresAt < Date.now()) return undefined;
    // Compare digests: equal lengths, and no timing signal about the stored secret.
    const stored = Buffer.from(String(handoff.secretHash), 'base64url');
    const presented = digest(proof.secret);
    if (stored.length !== presented.length || !timingSafeEqual(presented, stored)) return undefined;
    if (proof.clientToken !== handoff.clientToken) return undefined;
    for (const [name, value] of Object.entries(handoff.expectedCookies)) {
      if ((proof.cookies[name] ?? null) !== value) return undefined;
    }
    // Whoever deletes the entry redeems it: a concurrent replay finds it gone.
    if (!(await withinDeadline(this.handoffs.delete(id), HANDOFF_COMMAND_TIMEOUT_MS).catch(() => false))) return undefined;
    return handoff.setCookies;
  }

  async onModuleDestroy(): Promise<void> {
    // Keyv's disconnect closes the client it was given: shared connections are closed by their owner only.
    if (this.shared) return;
    await this.handoffs.disconnect().catch(() => undefined);
  }
}
