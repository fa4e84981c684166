import { ConnectionLifecycle } from '../common/connection-lifecycle.js';
import type { EventClient } from '../common/event-client.js';
import { Injectable, Logger } from '@nestjs/common';
import { isPromise, type MaybePromise } from '../common/maybe-promise.js';
import type { SyntheticRequest } from '../bridge/request/synthetic-request.js';
import { BridgeError } from '../protocol/bridge-error.js';
import type { StateDefinition } from '../state/state-definition.js';
import { LiveBroadcaster } from './live-broadcaster.service.js';
import { LiveFanoutScheduler } from './live-fanout.scheduler.js';
import type { LiveFramePool } from './live-frame.pool.js';
import { getLiveLists } from './live-list.decorator.js';
import { applyLiveChange } from './live-list-apply.js';
import { LiveListSubscriber } from './live-list.subscriber.js';
import { LiveRowCache } from './live-row.cache.js';
import { ModelChange } from './model-change.js';
import { coalesceReplay } from './replay-coalescing.js';

/**
 * Changes one client's state under its lock and pushes the delta (the pipeline's live-list step): `change`
 * edits the state, and the delta goes out through `frames`, shared with the subscribers whose delta is the same.
 * Synchronous when the state could be changed at once.
 */
export type ModifyState = (change: (state: Record<string, unknown>) => MaybePromise<void>, frames: LiveFramePool) => MaybePromise<void>;

/**
 * What let a state's `live_subscribe` through where its tier runs guards (`full`: the tier's middleware, then the Nest
 * guards), run again for its connection once a re-authentication found the connection's user now (`request`, that
 * re-authentication's): resolves when they let it through, rejects when they refuse it (a middleware's answer, such
 * as a redirect to the login page, included).
 */
export type LiveGuards = (request: SyntheticRequest) => Promise<void>;

/**
 * Whose rows one connection's subscription to a state shows: the user its tier resolved (`fromRequest`; on a
 * `none`-tier state there is no request and the user stays `undefined`). Read when each change is applied, so a
 * change of user (the session ended, the page subscribed again) scopes every later change, queued ones included.
 */
interface Viewer {
  user: unknown;
  readonly fromRequest: boolean;
  /**
   * No change is applied while set: the state's guards let in a user the connection no longer has (its session
   * ended), and have not let its user now through yet. A guarded state's `liveRow` may leave who sees a row to the
   * guards (members only): applied for the user the re-authentication found, its rows reached a logged-out tab.
   */
  held: boolean;
  /** Bumped by each new verdict on {@link held}: a guard check that settles after a newer one is ignored. */
  verdict: number;
}

/** One connection's subscription to one state's live lists. */
interface StateSubscription {
  readonly viewer: Viewer;
  readonly subscribers: LiveListSubscriber[];
  /** The state's guards where its tier runs them: checked again on the connection's next user. */
  readonly guards: LiveGuards | undefined;
  /** Applies the changes since the page load again (nothing for a state with its own `applyLiveChange`). */
  readonly replay: () => void;
}

/**
 * Applies `changes` one after the other (each may wait), as one change of the state: a change that fails is
 * recorded (`report` gets each change's failure by position, once any failed) and the next ones still apply, as
 * they did when each change was a state change of its own.
 */
function applyInTurn(changes: readonly ModelChange[], apply: (change: ModelChange) => MaybePromise<void>, report: (failures: Array<{ error: unknown } | undefined>) => void): MaybePromise<void> {
  let failures: Array<{ error: unknown } | undefined> | undefined;
  const failed = (index: number, error: unknown) => {
    if (!failures) report((failures = new Array<{ error: unknown } | undefined>(changes.length).fill(undefined)));
    failures[index] = { error };
  };
  const from = (index: number): MaybePromise<void> => {
    for (let i = index; i < changes.length; i++) {
      let applied: MaybePromise<void>;
      try {
        applied = apply(changes[i]!);
      } catch (error) {
        failed(i, error);
        continue;
      }
      if (isPromise(applied)) return applied.then(() => from(i + 1), (error: unknown) => (failed(i, error), from(i + 1)));
    }
    return undefined;
  };
  return from(0);
}

/**
 * Whether the user a `live_subscribe` read is the one its subscription already has: the same object, or an equal
 * record. A session's `deserializeUser` (a database read) gives every request its own copy of the user, so by
 * identity alone each `live_subscribe` of the same user was a change of user, and replayed (and judged again, with a
 * `liveRow` per change, as the row cache keys users by identity) every change since the page load: up to
 * `live.bufferSize` per list for one small event, as often as a client cared to send it.
 */
function sameUser(shown: unknown, read: unknown): boolean {
  if (shown === read) return true;
  if (typeof shown !== 'object' || typeof read !== 'object' || shown === null || read === null) return false;
  try {
    return JSON.stringify(shown) === JSON.stringify(read);
  } catch {
    // Not serializable (a cycle, a throwing toJSON): taken as another user, whose rows are judged again.
    return false;
  }
}

/**
 * The live-list subscriptions of connected clients: one per (connection, state), started by the state's
 * `live_subscribe` event, ended when the connection closes.
 *
 * A change's row is computed once per scope (change, list, user), the new list once per distinct list shown,
 * and the resulting delta encoded once per distinct delta (see {@link LiveRowCache}); what stays per subscriber
 * is applying the change to its own state under its lock and writing the frame to its socket, run in slices by
 * one {@link LiveFanoutScheduler} for the worker.
 */
@Injectable()
export class LiveListSubscriptions {
  private readonly logger = new Logger('ReflexBridge');
  private readonly byConnection = new Map<string, Map<StateDefinition, StateSubscription>>();
  /**
   * The user each open connection's last session end left it with, and when ({@link userChanges} then): a
   * `live_subscribe` that read its request before that end starts with this user, not its request's (see {@link start}).
   */
  private readonly rescoped = new Map<string, { readonly at: number; readonly user: unknown; readonly request: SyntheticRequest | undefined }>();
  /** How many times a connection's user changed on this worker: the marks of {@link mark}. */
  private userChanges = 0;
  /** Each change's rows, lists and frames, once per scope for all of this worker's subscribers. */
  private readonly rows = new LiveRowCache();
  private readonly scheduler = new LiveFanoutScheduler();
  /** Failures already logged (see {@link start}): weakly, so each goes with the last subscriber that held it. */
  private readonly reported = new WeakSet<object>();
  /**
   * The refetch queued in place of the changes lists dropped when a change arrived, by that change: the lists that
   * fell behind on the same change (a transaction of more rows than `live.bufferSize` overflows every list of the
   * model at once) share it, and so its re-reads. Weakly, so each goes with its change.
   */
  private readonly standIns = new WeakMap<ModelChange, ModelChange>();
  /** The lists each refetch's failure was logged for (see {@link start}): weakly, so each goes with its change. */
  private readonly reportedRefetches = new WeakMap<ModelChange, WeakSet<object>>();
  /** Runs the re-read owed since an outage once the transport has stayed up `live.resyncSettleMs`. */
  private resyncTimer: NodeJS.Timeout | undefined;
  /** When the first `up` whose re-read has not run yet came (`undefined`: none owed). */
  private resyncOwedSince: number | undefined;

  constructor(
    private readonly broadcaster: LiveBroadcaster,
    private readonly lifecycle: ConnectionLifecycle,
  ) {
    lifecycle.onClosed((client) => this.stop(client.sid));
    // Changes published while this worker was not listening never reach it (pub/sub keeps nothing): once the
    // transport is back, every live list re-reads itself, as after a bulk write. (Completes when the broadcaster closes.)
    broadcaster.transportStatus$?.subscribe({
      next: (status) => (status === 'up' ? this.transportUp() : this.transportDown()),
      complete: () => this.transportDown(),
    });
  }

  /**
   * The transport is back: every list re-reads itself once it has stayed up for `live.resyncSettleMs`, not at once.
   * A transport flapping down and up every second made every list on the worker re-read itself after each outage
   * (100 per-user lists of 50 rows over 10 flaps: 50,000 row reads, and 10 `liveReload` runs per shared key); an
   * outage before the settle time ends pushes the re-read back, and the last `up` always gets one. While it keeps
   * flapping, one runs at the next `up` once 10 settle times passed since the first owed one, so lists are never
   * left stale for longer than that.
   */
  private transportUp(): void {
    const settle = this.broadcaster.resyncSettleMs ?? 0;
    const now = Date.now();
    this.resyncOwedSince ??= now;
    clearTimeout(this.resyncTimer);
    this.resyncTimer = undefined;
    if (now - this.resyncOwedSince >= 10 * settle) {
      this.resync();
      return;
    }
    this.resyncTimer = setTimeout(() => this.resync(), settle);
    // A worker shutting down does not wait for it (the broadcaster's close cancels it too).
    this.resyncTimer.unref?.();
  }

  /** The transport is down (or closed): a re-read now would miss what the outage loses; the next `up` owes one. */
  private transportDown(): void {
    clearTimeout(this.resyncTimer);
    this.resyncTimer = undefined;
  }

  private resync(): void {
    this.resyncTimer = undefined;
    this.resyncOwedSince = undefined;
    this.refetchAll();
  }

  /**
   * Hands every live list on this worker a `refetch` of its label, one change per label shared by all of its lists
   * (so their re-reads are shared per scope, and coalesced with any refetch already waiting). Only the lists: an app's
   * own `subscribe` / `observe` streams learn of the outage from `transportStatus$`.
   */
  private refetchAll(): void {
    const refetches = new Map<string, ModelChange>();
    for (const states of this.byConnection.values()) {
      for (const { subscribers } of states.values()) {
        for (const subscriber of subscribers) {
          let refetch = refetches.get(subscriber.label);
          if (!refetch) refetches.set(subscriber.label, (refetch = ModelChange.refetch(subscriber.label)));
          subscriber.deliver(refetch);
        }
      }
    }
  }

  /** True when the state declares at least one `@LiveList`. */
  hasLiveLists(definition: StateDefinition): boolean {
    return getLiveLists(definition.cls).length > 0;
  }

  /**
   * Subscribes `client`'s connection to the live lists of `definition`. Each change is applied through `modify`,
   * scoped to `user` (the subscriber's user, read from the subscribing event's request: `fromRequest`; else no user).
   * Does nothing for a connection that has already closed: its `live_subscribe` may run late, queued behind its
   * token's other events, and a subscription started then would never end.
   *
   * A page loads its list (an on-load handler) before it subscribes: the changes this worker received since the
   * page load began (or the connection opened, before any) are applied first, in order, so one committed between
   * the load and the subscription is not missed. Applying a change the list already shows leaves it as it is (an
   * upsert or removal by key), so the replay is skipped for a state with its own `applyLiveChange`, which may not
   * be idempotent.
   *
   * Subscribing again on the same connection keeps the subscription and takes the new event's user (a page that
   * subscribes again after a login shows that user's rows from then on), with the same replay when it changed (an
   * equal record, as a session's `deserializeUser` gives each request, is the same user: nothing is replayed).
   *
   * `readAt` is the {@link mark} taken before the subscribing event read its request: when the connection's session
   * ended after that (its guards were still running), the request's user is gone, and the user {@link changeUser}
   * gave the connection is taken instead. Without it, a subscription started a moment after a logout kept showing
   * the logged-out user's rows for the life of the connection.
   *
   * `guards` (a `full`-tier state) are the guards that let this event through: when the connection's user changes,
   * the subscription applies nothing until they let the new user through (see {@link changeUser}).
   */
  start(client: EventClient, definition: StateDefinition, user: unknown, fromRequest: boolean, modify: ModifyState, readAt = this.userChanges, guards?: LiveGuards): void {
    if (this.lifecycle.isClosed(client)) return;
    const rescoped = this.rescoped.get(client.sid);
    const stale = fromRequest && rescoped !== undefined && rescoped.at > readAt;
    if (stale) user = rescoped.user;
    let states = this.byConnection.get(client.sid);
    if (!states) {
      states = new Map();
      this.byConnection.set(client.sid, states);
    }
    const existing = states.get(definition);
    if (existing) {
      // A stale event says nothing new: changeUser already gave the subscription the connection's user (and, for a
      // guarded state, its guards' check of that user decides; the guards this event passed judged the old one).
      if (!fromRequest || stale || (sameUser(existing.viewer.user, user) && !existing.viewer.held)) return;
      existing.viewer.user = user;
      // The guards (if any) just let this user through.
      existing.viewer.held = false;
      existing.viewer.verdict += 1;
      existing.replay();
      return;
    }
    const viewer: Viewer = { user, fromRequest, held: false, verdict: 0 };
    const subscribers: LiveListSubscriber[] = [];
    for (const list of getLiveLists(definition.cls)) {
      const subscriber = new LiveListSubscriber(
        list.label,
        this.broadcaster.bufferSize,
        this.scheduler,
        (changes) => {
          let failures: Array<{ error: unknown } | undefined> | undefined;
          // `held` read under the state's lock, as the user is: a change queued before a hold applies nothing either.
          const applied = modify(
            // A subscriber that ended (its socket closed) mid-batch applies nothing more: no liveRow read for a gone tab.
            (state) => (viewer.held ? undefined : applyInTurn(changes, (change) => (subscriber.closed ? undefined : applyLiveChange(state, list, change, viewer.user, this.rows)), (failed) => (failures = failed))),
            // Shared by the subscribers whose delta is the same (the very same values): keyed by the batch's last change.
            this.rows.framesOf(changes[changes.length - 1]!),
          );
          return isPromise(applied) ? applied.then(() => failures) : failures;
        },
        (change, error) => {
          // One failure shared by a scope's subscribers (its `liveRow` threw or rejected once for all of them) is
          // logged once, not once per subscriber: 10,000 lines for one change of a public list.
          if (typeof error === 'object' && error !== null) {
            if (this.reported.has(error)) return false;
            this.reported.add(error);
          }
          // A refetch runs each subscriber's own liveReload (its query depends on the client's vars), so a failure
          // there (the database down) is every tab's own error: logged once per refetch and list, not once per tab.
          if (change.isRefetch) {
            let lists = this.reportedRefetches.get(change);
            if (!lists) this.reportedRefetches.set(change, (lists = new WeakSet()));
            if (lists.has(list)) return false;
            lists.add(list);
          }
          this.logger.warn(`Applying ${change.modelLabel} ${change.action} ${String(change.pk)} to ${definition.fullName}.${list.property} failed: ${(error as Error)?.message ?? String(error)}`);
          return true;
        },
        (ended) => this.broadcaster.detach(list.label, ended),
        (trigger) => this.standInFor(trigger),
      );
      subscribers.push(subscriber);
      this.broadcaster.attach(list.label, subscriber);
    }
    const prototype = definition.cls.prototype as { applyLiveChange?: unknown; liveRow?: unknown };
    const replays = client.connectedAt !== undefined && typeof prototype.applyLiveChange !== 'function';
    const rowsFromData = typeof prototype.liveRow !== 'function';
    const replay = () => {
      // Since the page load as it is when replaying (a later page load began later).
      if (replays) for (const subscriber of subscribers) this.replay(subscriber, client.pageLoadedAt ?? client.connectedAt!, rowsFromData);
    };
    const subscription: StateSubscription = { viewer, subscribers, guards, replay };
    states.set(definition, subscription);
    // Guards that judged a user who is gone: held until they let the connection's user now through.
    if (stale && guards) this.recheck(client, subscription, rescoped.request);
    else replay();
  }

  /**
   * The connection's session ended (a logout, here or elsewhere): every subscription whose user came from a request
   * shows `user`'s rows from now on (the user the connection has now; `undefined` when anonymous or unknown), changes
   * already queued for it included, and a subscription whose event read its request before now (see {@link start}).
   * Rows already shown stay until the page loads its list again.
   *
   * A subscription whose guards let it in (a `full`-tier state) applies nothing from now on until they let this user
   * through: they are run again on `request` (the re-authentication's; none yet, or it failed: held until the page
   * subscribes again and they let it through).
   */
  changeUser(client: EventClient, user: unknown, request?: SyntheticRequest): void {
    if (this.lifecycle.isClosed(client)) return;
    this.rescoped.set(client.sid, { at: ++this.userChanges, user, request });
    for (const subscription of this.byConnection.get(client.sid)?.values() ?? []) {
      if (!subscription.viewer.fromRequest) continue;
      subscription.viewer.user = user;
      if (subscription.guards) this.recheck(client, subscription, request);
    }
  }

  /**
   * The connection's `live_subscribe` was refused (read at `readAt`, see {@link mark}): by the state's guards, or by its
   * tier's middleware (an answer such as a role check's 403, or a redirect to the login page). Its subscription
   * to the state, if it has one, applies nothing until a later `live_subscribe` passes them. A refusal of a request
   * read before the connection's session ended judged a user it no longer has: the check {@link changeUser} started
   * decides instead.
   */
  refuse(client: EventClient, definition: StateDefinition, readAt: number): void {
    const subscription = this.byConnection.get(client.sid)?.get(definition);
    if (subscription === undefined || !subscription.viewer.fromRequest) return;
    const rescoped = this.rescoped.get(client.sid);
    if (rescoped !== undefined && rescoped.at > readAt) return;
    subscription.viewer.held = true;
    subscription.viewer.verdict += 1;
  }

  /** Holds a guarded subscription, and lets it go once its guards let `request` through (unless a newer verdict came). */
  private recheck(client: EventClient, subscription: StateSubscription, request: SyntheticRequest | undefined): void {
    const { viewer, guards } = subscription;
    viewer.held = true;
    const verdict = ++viewer.verdict;
    if (request === undefined || guards === undefined) return;
    Promise.resolve()
      .then(() => guards(request))
      .then(
        () => {
          if (viewer.verdict !== verdict || this.lifecycle.isClosed(client)) return;
          viewer.held = false;
          // The changes skipped while held.
          subscription.replay();
        },
        // Refused (a guard's or the middleware's answer): held until the page subscribes again and is let through.
        // Failed otherwise (the session store is down): held all the same, as the tier fails closed, but said.
        (error: unknown) => {
          if (!(error instanceof BridgeError)) this.logger.warn(`A live list stays paused for a connection whose session ended: checking its tier again failed: ${(error as Error)?.message ?? String(error)}`);
        },
      )
      .catch((error: unknown) => this.logger.warn(`Replaying live changes after a guard check failed: ${(error as Error)?.message ?? String(error)}`));
  }

  /**
   * The refetch a list queues in place of the changes it dropped when `trigger` arrived. Shared by every list that
   * dropped changes on the arrival of that very change: each dropped only changes that arrived before it, so a
   * re-read made once any of them applies it (after `trigger` arrived) is as fresh as each of them needs, and 100
   * lists of one model that a 5,000-row transaction overflowed re-read their rows (or run a `liveReload` with a
   * `reloadKey`) once per scope, not once per list. A replayed change is each subscriber's own copy, so its
   * stand-in is too.
   */
  private standInFor(trigger: ModelChange): ModelChange {
    let standIn = this.standIns.get(trigger);
    if (standIn === undefined) this.standIns.set(trigger, (standIn = ModelChange.refetch(trigger.modelLabel)));
    return standIn;
  }

  /**
   * A mark to take before an event reads its request, for {@link start}: tells whether a connection's session ended
   * after that read.
   */
  mark(): number {
    return this.userChanges;
  }

  /**
   * Hands `subscriber` the changes of its label since `since`, at most one row computation per primary key (see
   * {@link coalesceReplay}), each as its own copy (what is computed for a change object is cached while it lives:
   * the recorded one lives for the window) whose row is shared with the other replays of the same recorded change
   * (see `ReplayRowCache`).
   */
  private replay(subscriber: LiveListSubscriber, since: number, rowsFromData: boolean): void {
    for (const { change, source } of coalesceReplay(this.broadcaster.recentSince(subscriber.label, since), rowsFromData)) {
      // A `created` the coalescing made is this replay's own already.
      const copy = change === source ? new ModelChange(change.modelLabel, change.action, change.pk, change.data, change.origin) : change;
      this.rows.replayed.replays(copy, source);
      subscriber.deliver(copy);
    }
  }

  /** Ends every subscription of a connection. */
  stop(sid: string): void {
    this.rescoped.delete(sid);
    const states = this.byConnection.get(sid);
    if (!states) return;
    this.byConnection.delete(sid);
    for (const { subscribers } of states.values()) for (const subscriber of subscribers) subscriber.unsubscribe();
  }

  /** Connections with live subscriptions (for tests and metrics). */
  get connections(): number {
    return this.byConnection.size;
  }
}
