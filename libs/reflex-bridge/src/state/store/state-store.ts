/** A client's whole state tree: vars per full state name. JSON-serialisable by contract. */
export type StoredState = Record<string, Record<string, unknown>>;

/** How a state is saved. */
export interface SaveOptions {
  /**
   * The state holds nothing a handler made (no state yet, or only what hydration sets): the store keeps it for
   * its short `unusedTtlSeconds` instead of its full TTL, so throw-away tokens do not pin memory. A later save
   * without the flag gives the state the full TTL again. Stores without a short TTL may ignore it.
   */
  provisional?: boolean;
  /**
   * About how many bytes of JSON `state` takes, as the module's state-size check measured it. A store that keeps
   * it beside the state hands it back as {@link StateLease.stateSize}, so that the next event measures only the
   * state it replaces; stores may ignore it.
   */
  stateSize?: number;
}

/**
 * Exclusive access to one token's state, granted by {@link StateStore.acquire}. Holders must `release()`
 * in a `finally` block.
 */
export interface StateLease {
  /** The client token this lease is for. */
  readonly token: string;
  /** The state when the lease was granted, or `null` for a token with no state yet. Never mutate it. */
  readonly state: StoredState | null;
  /**
   * The {@link SaveOptions.stateSize} that {@link state} was saved with, when the store kept it; else `undefined`
   * (then the next event that may grow the state measures the whole of it). Optional for third-party stores.
   */
  readonly stateSize?: number;
  /**
   * Writes the token's new state. Fails with {@link LockLostError} when the lease is no longer held
   * (released, or expired and taken over), so a stale holder can never overwrite newer state. A store that
   * keeps state in-process may complete (or throw) synchronously; callers await the result either way.
   */
  save(state: StoredState, options?: SaveOptions): void | Promise<void>;
  /** Gives the lock to the next waiter. Idempotent. May complete synchronously, like `save`. */
  release(): void | Promise<void>;
  /**
   * Milliseconds the lock lives from its grant or its last {@link renew} before another waiter may take it over, or
   * `undefined` when it lives until released (an in-process store). Long holders (an upload handler) renew it
   * about every third of this.
   */
  readonly lockTimeoutMs?: number;
  /**
   * Extends the lock by another {@link lockTimeoutMs}, only while this lease still holds it. Fails with
   * {@link LockLostError} when it does not (released, or expired and maybe taken over): a renewal never takes a
   * lock back. May complete synchronously, like `save`. Optional for third-party stores: without it, a holder
   * keeps the lock only for `lockTimeoutMs`.
   */
  renew?(): void | Promise<void>;
}

/** Raised by {@link StateLease.save} when the lease is no longer held. @publicApi */
export class LockLostError extends Error {
  constructor(token: string) {
    super(`The state lock for token ${token.slice(0, 8)}… is no longer held; the write was refused.`);
    this.name = 'LockLostError';
  }
}

/**
 * Where client states live. Abstract class and DI token: inject `StateStore` to read or change a client's
 * state outside an event; pass an implementation in the module's `stateStore` option to replace the
 * in-memory default. Every implementation passes the shared contract suite (`describeStateStoreContract` from
 * `@reflex-bridge/nest/testing`).
 * @publicApi
 */
export abstract class StateStore {
  /**
   * Waits for the token's exclusive lock (first come, first served) and returns a lease on its state.
   * Idle tokens expire after the store's TTL.
   */
  abstract acquire(token: string): Promise<StateLease>;
  /**
   * Optional: the lease at once when the token's lock is free, else `undefined` (then use `acquire`). Stores
   * that keep state in-process implement it so an uncontended event needs no promise at all; stores that
   * must ask a server implement it only for what they can grant without asking (the `RedisStateStore`: a lock
   * this process kept from the token's previous event), or leave it out.
   */
  tryAcquireSync?(token: string): StateLease | undefined;
  /**
   * Optional: resolves once the store can serve (its connections are up), however many connection attempts fail
   * meanwhile; rejects, with the reason, once `timeoutMs` passed (the store goes on trying in the background). The
   * module awaits it before the app listens (up to 5 s), so that a tab connecting the moment the port opens is
   * hydrated rather than told the store is unavailable. Stores that need no connection leave it out.
   */
  whenReady?(timeoutMs: number): Promise<void>;
  /** The token's current state without locking, or `null`. For inspection only. */
  abstract read(token: string): Promise<StoredState | null>;
  /**
   * One entry of the token's current state tree without locking (the vars of one full state name, or an entry the
   * module keeps there, such as the token's owner), or `null` when the token has no state or the state no such entry.
   * The gateway reads a reconnecting tab's owner this way before answering its handshake, so a store fails it as it
   * fails {@link read} (the handshake is then refused). This default reads the whole state: a store that can read one
   * entry alone (both built-in stores do) overrides it, so a connection costs a few bytes, not the whole state.
   */
  async readEntry(token: string, name: string): Promise<Record<string, unknown> | null> {
    return (await this.read(token))?.[name] ?? null;
  }
  /** Forgets a token's state. */
  abstract delete(token: string): Promise<void>;
  /** Releases timers and connections. */
  abstract close(): Promise<void>;
}
