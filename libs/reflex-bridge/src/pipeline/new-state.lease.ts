import { then, type MaybePromise } from '../common/maybe-promise.js';
import type { SaveOptions, StateLease, StoredState } from '../state/store/state-store.js';
import { isProvisional } from './state-tree.js';

/**
 * The entry that marks a state its address's budget of new states (`rateLimit.newStates`) kept short: an entry of the
 * token's own tree, so every store and every worker sees it, and it goes when the state does. No state class can have
 * this name (state names have no colon), and only registered states are ever sent to clients.
 */
export const SHORT_LIVED_KEY = 'rx:short-lived';

/**
 * Whether a leased state already holds the full TTL: a handler changed it (it is not provisional) and no budget kept
 * it short. Such a lease is used as it is; any other is wrapped in a {@link NewStateLease}.
 */
export function holdsFullTtl(state: StoredState | null): boolean {
  return state !== null && !(SHORT_LIVED_KEY in state) && !isProvisional(state);
}

/** The answer for a change no client made (the app's, a live list's): a state without the full TTL stays short, uncounted. */
export const KEEP_SHORT = (): boolean => false;

/** `state` without the short-lived mark (itself when it has none). */
function unmarked(state: StoredState): StoredState {
  if (!(SHORT_LIVED_KEY in state)) return state;
  const copy = { ...state };
  delete copy[SHORT_LIVED_KEY];
  return copy;
}

/** `state` with the short-lived mark (itself when it has it). */
function marked(state: StoredState): StoredState {
  if (SHORT_LIVED_KEY in state) return state;
  const copy = { ...state };
  copy[SHORT_LIVED_KEY] = {};
  return copy;
}

/**
 * The lease of a state that does not hold the full TTL yet (a new token, one only hydrated, or one its address's
 * budget kept short), as an event of a client sees it. Its first save of a state a handler changed asks `admit` (once
 * per lease) whether the client's address may have one more state kept for the full TTL: if so, the state is saved as
 * the pipeline gave it (without the mark); if not, it is saved provisional (the store's short, sliding TTL) and marked,
 * so that the tab's next event asks again, in whichever worker it runs. Provisional saves pass through untouched.
 * For a token the store has no state for, `admitTab` is asked first, at its first save of any kind: when it throws (or
 * rejects), that save fails with its error and nothing is stored (the client's address opened too many new tabs).
 *
 * Only such leases are wrapped: a state with the full TTL (the steady case) costs the event path one `in` test and a
 * look at its first two names, nothing more.
 */
export class NewStateLease implements StateLease {
  /** The answer of `admit`, asked at the first save that needs it. */
  private admitted: MaybePromise<boolean> | undefined;
  /** The answer of `admitTab`, asked at the first save of a token with no state (once it answered or is answering). */
  private tabAdmitted: MaybePromise<void> = undefined;
  private tabAsked = false;
  readonly renew?: () => void | Promise<void>;

  constructor(
    private readonly lease: StateLease,
    /** Counts one new state of the client's address; true when it may have the full TTL. Never rejects. */
    private readonly admit: () => MaybePromise<boolean>,
    /** Counts one new tab of the client's address, for a lease of a token with no state; throws its refusal. */
    private readonly admitTab?: () => MaybePromise<void>,
  ) {
    // Only when the store's lease has it: a holder tells "cannot renew" by its absence.
    if (lease.renew) this.renew = () => lease.renew!();
  }

  get token(): string {
    return this.lease.token;
  }

  get state(): StoredState | null {
    return this.lease.state;
  }

  get stateSize(): number | undefined {
    return this.lease.stateSize;
  }

  get lockTimeoutMs(): number | undefined {
    return this.lease.lockTimeoutMs;
  }

  save(state: StoredState, options?: SaveOptions): void | Promise<void> {
    if (this.admitTab === undefined || this.lease.state !== null) return this.saveAdmitted(state, options);
    if (!this.tabAsked) {
      this.tabAdmitted = this.admitTab();
      this.tabAsked = true;
    }
    return then(this.tabAdmitted, () => this.saveAdmitted(state, options));
  }

  /** {@link save} once the tab may have a state at all. */
  private saveAdmitted(state: StoredState, options?: SaveOptions): void | Promise<void> {
    if (options?.provisional === true || isProvisional(state)) return this.lease.save(state, options);
    const admitted = (this.admitted ??= this.admit());
    return then(admitted, (yes) => (yes ? this.lease.save(unmarked(state), options) : this.lease.save(marked(state), { ...options, provisional: true })));
  }

  release(): void | Promise<void> {
    return this.lease.release();
  }
}
