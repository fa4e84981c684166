import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import type { EventClient } from '../common/event-client.js';
import type { SyntheticRequest } from '../bridge/request/synthetic-request.js';
import type { StateLease, StoredState } from '../state/store/state-store.js';
import { StateStore } from '../state/store/state-store.js';
import { then, tryCatch, type MaybePromise } from '../common/maybe-promise.js';

/**
 * Where a token's owner is kept: an entry of the token's own state tree, so it lives, expires and is shared
 * between workers exactly like the state it protects, in every state store. No state class can have this
 * name (state names have no colon), and only registered states are ever sent to clients.
 */
export const TOKEN_OWNER_KEY = 'rx:owner';

/** The owner entry: a hash of the session id, never the id itself (the state store is not a session store). */
interface OwnerEntry {
  session: string;
}

/** The session hash an owner entry names, or undefined (no entry, or not one the module wrote). */
function ownerOfEntry(entry: Partial<OwnerEntry> | Record<string, unknown> | null | undefined): string | undefined {
  const session = (entry as Partial<OwnerEntry> | null | undefined)?.session;
  return typeof session === 'string' ? session : undefined;
}

/** What the gateway learnt of a connecting socket's session. */
export interface ConnectingSession {
  /** False when the session could not be read (the session store failed): ownership cannot be proven. */
  known: boolean;
  /** The session id the app's session middleware found for the socket's cookie, if any. */
  sessionId?: string;
}

/**
 * Binds client tokens to the session that used them. A client token is otherwise a bearer capability: whoever
 * presents it on the socket handshake gets the tab's state. Once an event ran on a token with an authenticated
 * user, the token belongs to that session: a socket of any other session (or of none) presenting it is
 * treated like a duplicated tab and gets a new token with a fresh state. Tokens no authenticated event ever
 * used stay bearer tokens, as in Reflex.
 *
 * The binding follows the session of the socket that holds the token: an event on it that logs in, or that
 * changes the session id (a login or logout that regenerates the session), moves the binding to the new
 * session, whose cookie the browser receives through the cookie handoff and presents on its next handshake.
 * The session of a connecting socket is the one the app's auth middleware finds for its handshake cookie, so
 * bindings need `bridge.authMiddleware`.
 */
@Injectable()
export class TokenOwnership {
  private readonly logger = new Logger('ReflexBridge');
  /** Per socket, the last session id hashed and its hash: the hash is worked out once per session change. */
  private readonly hashes = new WeakMap<EventClient, { sessionId: string; hash: string }>();

  /**
   * Whether tokens are bound at all: only with `bridge.authMiddleware`, the middleware that tells the session
   * of a connecting socket (without it, an owner could never be recognised on reconnect).
   */
  readonly enabled: boolean;

  constructor(
    @Inject(RESOLVED_OPTIONS) options: ResolvedReflexBridgeOptions,
    private readonly store: StateStore,
  ) {
    this.enabled = (options.bridge.authMiddleware?.length ?? 0) > 0;
  }

  /** The hash a binding stores for `sessionId`. */
  static hashOf(sessionId: string): string {
    return createHash('sha256').update(`reflex-bridge:token-owner:${sessionId}`).digest('base64url');
  }

  /** The session hash `state` is bound to, or undefined for a bearer (unbound) token. */
  static ownerOf(state: StoredState | null | undefined): string | undefined {
    return ownerOfEntry(state?.[TOKEN_OWNER_KEY]);
  }

  /**
   * Whether a socket of `session` may take `token`: always for an unbound token; for a bound one only when
   * the socket's session is the binding's. Reads the token's state; a store failure counts as "no" (we could
   * not prove the socket owns the token, so it gets a fresh one: fail closed).
   */
  async mayTake(token: string, session: ConnectingSession): Promise<boolean> {
    let owner: string | undefined;
    try {
      owner = await this.ownerOfToken(token);
    } catch (error) {
      this.logger.warn(`Could not read the owner of a client token; issuing a new token: ${(error as Error).message}`);
      return false;
    }
    return TokenOwnership.permits(owner, session);
  }

  /**
   * The session hash `token` is bound to, or undefined for an unbound token, read from the state store. Rejects
   * when the store fails: the owner is then unknown, and the caller decides (the gateway refuses the handshake, so
   * the tab tries again with its token rather than losing its state for good to a store that was down a moment).
   */
  async ownerOfToken(token: string): Promise<string | undefined> {
    // The owner entry alone (`readEntry`): a connection then costs the store a few dozen bytes, not the token's whole
    // state. A store given as a plain object, not extending StateStore, has no readEntry: its whole state is read.
    if (typeof this.store.readEntry === 'function') return ownerOfEntry(await this.store.readEntry(token, TOKEN_OWNER_KEY));
    return TokenOwnership.ownerOf(await this.store.read(token));
  }

  /** Whether a socket of `session` may take a token bound to `owner` (see {@link ownerOfToken}; undefined: unbound). */
  static permits(owner: string | undefined, session: ConnectingSession): boolean {
    if (owner === undefined) return true;
    return session.known && session.sessionId !== undefined && TokenOwnership.hashOf(session.sessionId) === owner;
  }

  /**
   * After an event that ran the auth chain, under the token's lease: binds the token to the request's session
   * when a user is authenticated, and moves an existing binding along when the event changed the session id
   * (a logout or login that regenerated it). Nothing to do, and nothing allocated, when the binding already
   * names the session. A failure to save the binding is logged: the event's own outcome stands, and the next
   * authenticated event binds again.
   */
  afterEvent(request: SyntheticRequest | undefined, sessionIdBefore: string | undefined, client: EventClient, lease: StateLease, tree: { state: StoredState }): MaybePromise<void> {
    if (!request || !this.enabled) return;
    const sessionId = request.sessionID;
    if (typeof sessionId !== 'string' || sessionId === '') return;
    const owner = TokenOwnership.ownerOf(tree.state);
    const authenticated = request.user !== undefined && request.user !== null;
    // Anonymous events leave an unbound token a bearer token, and a bound one bound, unless this very event
    // moved the socket to another session (the browser will present that one from now on).
    if (!authenticated && (owner === undefined || sessionId === sessionIdBefore)) return;
    const hash = this.hashFor(client, sessionId);
    if (hash === owner) return;
    const state: StoredState = Object.assign({}, tree.state);
    state[TOKEN_OWNER_KEY] = { session: hash } satisfies OwnerEntry;
    return tryCatch(
      () => then(lease.save(state), () => void (tree.state = state)),
      (error) => this.logger.warn(`Could not bind a client token to its session: ${(error as Error).message}`),
    );
  }

  private hashFor(client: EventClient, sessionId: string): string {
    const known = this.hashes.get(client);
    if (known?.sessionId === sessionId) {
      // Keep the string the events now carry (fast auth's): the next comparison is then one pointer test, not a
      // comparison of two copies character by character.
      known.sessionId = sessionId;
      return known.hash;
    }
    const hash = TokenOwnership.hashOf(sessionId);
    this.hashes.set(client, { sessionId, hash });
    return hash;
  }
}
