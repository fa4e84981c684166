import type { BridgeErrorPayload, ConnectionError, ConnectionStatus, ReflexClient, StateVars, Unsubscribe } from '@reflex-bridge/client';
import { nextConnectionError } from './connection-error.notice.js';

/** What {@link useReflexErrors} reads: the server's recent refusals and the last connection problem. */
export interface ReflexErrorLog {
  /** The most recent `bridge_error` messages, oldest first (at most `errorLimit`). */
  readonly errors: readonly BridgeErrorPayload[];
  /**
   * The last connection problem, cleared once the client is `ready` again. An `events_unconfirmed` one is kept until
   * dismissed: a later problem of another kind does not replace it, a later `events_unconfirmed` is added to it.
   */
  readonly connectionError: ConnectionError | undefined;
}

/**
 * The React side of one {@link ReflexClient}: stable snapshots for `useSyncExternalStore` (the client hands out a
 * fresh object per read, which React would take for a change every time) and a log of errors that outlives the
 * components showing it. One per {@link ReflexProvider}.
 */
export class ReflexBinding {
  /** The last vars seen per state: the same object until a delta touches that state. */
  private readonly snapshots = new Map<string, StateVars | undefined>();
  private readonly stateSubscriptions = new Map<string, { listeners: Set<() => void>; unsubscribe: Unsubscribe }>();
  private readonly errorListeners = new Set<() => void>();
  private errorLog: ReflexErrorLog = { errors: [], connectionError: undefined };
  /**
   * The latest connection problem an `events_unconfirmed` notice kept from `connectionError`, until the client is
   * ready again: shown once the notice is dismissed, so closing it mid-reconnection does not make the page look fine.
   */
  private hiddenConnectionError: ConnectionError | undefined;

  /** @throws RangeError when `errorLimit` is not a whole number >= 0. */
  constructor(
    readonly client: ReflexClient,
    private readonly errorLimit = 20,
  ) {
    if (!Number.isInteger(errorLimit) || errorLimit < 0) throw new RangeError(`<ReflexProvider>: "errorLimit" must be a whole number >= 0, got ${String(errorLimit)}.`);
  }

  /**
   * Starts recording the client's errors; returns the function that stops it. Called from the provider's effect,
   * so that React's development double mount attaches once.
   */
  attach(): Unsubscribe {
    const client = this.client;
    const detach = [
      // Not `slice(-0)`, which keeps the whole list: with `errorLimit: 0` the log would grow with every error.
      client.onError((error) => this.setErrors({ ...this.errorLog, errors: this.errorLimit === 0 ? [] : [...this.errorLog.errors, error].slice(-this.errorLimit) })),
      client.onConnectionError((error) => {
        // A notice the user must see (clicks that may not have run) is kept past the reconnection's own failures.
        const current = this.errorLog.connectionError;
        const next = nextConnectionError(current, error);
        if (next === current) {
          this.hiddenConnectionError = error;
          return;
        }
        // A new notice hides the problem it replaces (the lost connection it follows) until it is dismissed.
        if (next.kind !== 'events_unconfirmed') this.hiddenConnectionError = undefined;
        else if (current?.kind !== 'events_unconfirmed') this.hiddenConnectionError = current;
        this.setErrors({ ...this.errorLog, connectionError: next });
      }),
      client.onStatus((status) => {
        if (status !== 'ready') return;
        this.hiddenConnectionError = undefined;
        // Not events the app sent that may not have run: the reconnection that follows at once is no answer to them.
        const error = this.errorLog.connectionError;
        if (error && error.kind !== 'events_unconfirmed') this.setErrors({ ...this.errorLog, connectionError: undefined });
      }),
    ];
    return () => {
      for (const stop of detach) stop();
    };
  }

  /** The vars of one state, the same object until it changes; `undefined` until the server sent the state. */
  state(fullName: string): StateVars | undefined {
    if (!this.snapshots.has(fullName)) this.snapshots.set(fullName, this.client.state(fullName));
    return this.snapshots.get(fullName);
  }

  /** Calls `onChange` after each delta that touches the state; one client listener per state, however many components. */
  subscribeState(fullName: string, onChange: () => void): Unsubscribe {
    let entry = this.stateSubscriptions.get(fullName);
    if (!entry) {
      const listeners = new Set<() => void>();
      const unsubscribe = this.client.subscribe(fullName, (vars) => {
        this.snapshots.set(fullName, vars);
        for (const listener of [...listeners]) listener();
      });
      entry = { listeners, unsubscribe };
      this.stateSubscriptions.set(fullName, entry);
      // A delta may have arrived between the first read and this subscription.
      this.snapshots.set(fullName, this.client.state(fullName));
    }
    const own = entry;
    const listener = (): void => onChange();
    own.listeners.add(listener);
    return () => {
      own.listeners.delete(listener);
      if (own.listeners.size === 0 && this.stateSubscriptions.get(fullName) === own) {
        own.unsubscribe();
        this.stateSubscriptions.delete(fullName);
        // Nothing keeps the snapshot current any more: a component mounted later must read the client's vars,
        // not show those of before it for a frame (or, with nothing else changing, until the next delta).
        this.snapshots.delete(fullName);
      }
    };
  }

  /** The client's connection status. */
  status(): ConnectionStatus {
    return this.client.status;
  }

  /** Calls `onChange` on each status change. */
  subscribeStatus(onChange: () => void): Unsubscribe {
    return this.client.onStatus(() => onChange());
  }

  /** The error log, the same object until it changes. */
  errors(): ReflexErrorLog {
    return this.errorLog;
  }

  /** Calls `onChange` when the error log changes. */
  subscribeErrors(onChange: () => void): Unsubscribe {
    this.errorListeners.add(onChange);
    return () => this.errorListeners.delete(onChange);
  }

  /**
   * Empties the error log, or removes one entry from it: a server error, or the connection error (only while it is
   * still the current one, so dismissing a notice the user read does not hide a newer problem).
   */
  clearErrors(error?: BridgeErrorPayload | ConnectionError): void {
    if (!error) {
      this.hiddenConnectionError = undefined;
      this.setErrors({ errors: [], connectionError: undefined });
    } else if (error === this.errorLog.connectionError) {
      const hidden = this.hiddenConnectionError;
      this.hiddenConnectionError = undefined;
      this.setErrors({ ...this.errorLog, connectionError: hidden });
    }
    else if (this.errorLog.errors.includes(error as BridgeErrorPayload)) {
      this.setErrors({ ...this.errorLog, errors: this.errorLog.errors.filter((e) => e !== error) });
    }
  }

  private setErrors(log: ReflexErrorLog): void {
    this.errorLog = log;
    for (const listener of [...this.errorListeners]) listener();
  }
}
