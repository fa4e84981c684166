import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { OutageLog } from '../common/outage-log.js';
import { BridgeError, type BridgeErrorPayload } from '../protocol/bridge-error.js';
import { isForbiddenKey, parseInboundEvent, valuesInLastEvent, type InboundEvent, type RouterData } from '../protocol/inbound-event.js';
import { PARSED_VALUE_BYTES } from '../protocol/parsed-values.js';
import { isClientEvent, isServerEvent, type ClientEvent, type ServerEvent } from '../protocol/client-event.js';
import { FRONTEND_EXCEPTION_STATE, ON_LOAD_INTERNAL_STATE, ROOT_STATE_NAME, UPDATE_VARS_INTERNAL_STATE, varKey } from '../protocol/state-naming.js';
import type { Delta } from '../protocol/state-update.js';
import { StateRegistry } from '../state/state-registry.service.js';
import { StateView, toWireVars } from '../state/state-view.js';
import type { HandlerDefinition, StateDefinition } from '../state/state-definition.js';
import { resolveHandlerArguments, uploadOnlyMessage, type PendingArguments } from '../state/handler-arguments.js';
import { enhancerName } from '../bridge/enhancer-timing.js';
import { LockLostError, StateStore, type StateLease, type StoredState } from '../state/store/state-store.js';
import { StateStoreError } from '../state/store/state-store.error.js';
import { BridgeRunner, type BridgeOutcome } from '../bridge/bridge-runner.service.js';
import { attachEventContext, detachEventContext, enterEventContext, leaveEventContext, runInEventContext, type EventContext } from '../bridge/request/event-context.js';
import { isPromise, isThenable, then, tryCatch, tryFinally, type MaybePromise } from '../common/maybe-promise.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { TokenQueue } from './token-queue.js';
import { isProvisional, knownSize, nextTree, sizedSave, treeOf, type StateTree } from './state-tree.js';
import { holdsFullTtl, KEEP_SHORT, NewStateLease } from './new-state.lease.js';
import type { EventClient } from '../common/event-client.js';
import { buildRouterVar, routerVarShows } from './router-var.js';
import { BridgeMetrics } from '../metrics/bridge-metrics.service.js';
import type { EventTimer } from '../metrics/event-timer.js';
import { LiveListSubscriptions } from '../live/live-list-subscriptions.service.js';
import type { LiveFramePool } from '../live/live-frame.pool.js';
import { StateSizeMeter } from '../security/state-size-meter.js';
import { UnknownClientTokenError } from '../state/unknown-client-token.error.js';
import { EventRateLimiter } from '../security/event-rate-limiter.service.js';
import { TokenOwnership } from '../security/token-ownership.service.js';
import { FrontendExceptionLog } from './frontend-exception-log.js';
import { BridgeErrorPresenter } from './bridge-error.presenter.js';
import { presentedError } from './presented-error.js';
import { OnLoadRoutes, type OnLoadMatch } from '../state/on-load-routes.service.js';
import { ClientStorageVars } from '../state/client-storage-vars.service.js';
import type { UploadCall } from './upload-call.js';
import { LeaseRenewal } from './lease-renewal.js';
import { BusyAnswers } from './busy-answers.js';
import { refusalNoticeDue } from './refusal-notices.js';
import { OUTPUT_BACKLOG_ERROR } from '../security/output-backlog.error.js';
import { plainRecord } from '../common/plain-record.js';
import { hasNonJsonPrimitive, jsonForm } from '../state/json-form.js';
import { thrownText, type ThrownText } from '../common/thrown-text.js';
import { RepeatedErrorLog } from '../common/repeated-error-log.js';

/** The handler every state with `@LiveList` vars answers: subscribe this connection to its lists. */
const LIVE_SUBSCRIBE = 'live_subscribe';
/** Whether a plain record has any key (`Object.keys(record).length > 0` without making the array). */
function hasKeys(record: Record<string, unknown>): boolean {
  for (const _key in record) return true;
  return false;
}

/**
 * The router data fields the server sets itself; a client's own value for any of them is not kept. Compared inline:
 * keys from JSON.parse are internalized strings, so each comparison is a pointer test, where a `Set` hashes.
 */
function isRouterDataKey(key: string): boolean {
  return key === 'pathname' || key === 'asPath' || key === 'query' || key === 'token' || key === 'sid' || key === 'headers' || key === 'ip';
}
/** What the name of a live-list subscription event ends with (one string, not one built per event). */
const LIVE_SUBSCRIBE_SUFFIX = `.${LIVE_SUBSCRIBE}`;

/** The longest handler error text sent to a client outside production (an error may quote the client's whole input). */
const MAX_ERROR_MESSAGE_CHARS = 2_000;
/** The longest handler error logged per event: its stack, whose first line is the message. */
const MAX_ERROR_LOG_CHARS = 16_000;
/**
 * Lines failed events may log: each kind (event name and error message) 5 a minute, all together 100 a minute; the
 * rest are counted in the next line. One input that sets off a handler bug fails every event a client sends with it.
 */
const HANDLER_ERROR_LOG_LIMITS = { perKind: 5, perWindow: 100, windowMs: 60_000 } as const;
/** The answer to a client event the worker will not run because it is shutting down. */
/**
 * A change asked for once the module closed its state store (in its `onApplicationShutdown`, after those of the app's
 * own modules): the app is stopping, and nothing can be saved any more. No outage, so nothing is logged, and no "try
 * again" either.
 */
const STORE_CLOSED = new BridgeError('server_stopping', 'The state store was closed: the app is shutting down, and nothing was changed.');
const SERVER_STOPPING = new BridgeError('server_stopping', 'The server is shutting down; this event was not run and nothing was changed. Send it again once reconnected.');
const HYDRATE = `${ROOT_STATE_NAME}.hydrate`;
const SET_IS_HYDRATED = `${ROOT_STATE_NAME}.set_is_hydrated`;
const ON_LOAD_INTERNAL = `${ON_LOAD_INTERNAL_STATE}.on_load_internal`;
const UPDATE_VARS_INTERNAL = `${UPDATE_VARS_INTERNAL_STATE}.update_vars_internal`;
const HANDLE_FRONTEND_EXCEPTION = `${FRONTEND_EXCEPTION_STATE}.handle_frontend_exception`;

/** What one handler call works with, from its lease to its follow-up events. */
interface HandlerRun {
  client: EventClient;
  token: string;
  handler: HandlerDefinition;
  outcome: BridgeOutcome;
  /** Resolved, or on `full` pending: resolved in the handler's Nest call, after its guards. */
  args: unknown[] | PendingArguments;
  lease: StateLease;
  tree: StateTree;
  /** Server events the handler returned, queued after it finishes. */
  followUps: ServerEvent[];
  /** The event the handler runs for: its router data goes to the follow-ups. */
  event: RoutedEvent;
}

/** A computed var whose getter threw while a delta was made: left out of the delta, reported to the client. */
interface ComputedVarFailure {
  state: StateDefinition;
  name: string;
  error: unknown;
}

/** What {@link EventPipeline}'s end of a leased run gets when the handler did not fail (`undefined` can be thrown). */
const NO_FAILURE: unique symbol = Symbol('no failure');

/** False for a state no `hydrate` or `on_load_internal` has reached: it has no `router` var (Reflex: empty `router_data`). */
function hasSeenAPage(state: StoredState): boolean {
  return state[ROOT_STATE_NAME]?.['router'] !== undefined;
}

/** An event after parsing, with the server's additions to `router_data`. */
interface RoutedEvent extends InboundEvent {
  routerData: RouterData;
  /** Router data that names no page (an upload's request, and the events its handler returns): the `router` var stays. */
  pageless?: true;
}

/**
 * Changes one of a token's states from a task already running in that token's queue (see `EventPipeline.runQueued`):
 * under its lease, committed, the delta pushed to `client`. Rejects with what failed.
 */
export type QueuedModify = <T extends object>(stateClass: abstract new (...args: never[]) => T, change: (state: T) => void | Promise<void>, client?: EventClient) => Promise<void>;

/**
 * One event, top to bottom. Each step's logic lives in its own folder; this file only composes them:
 * 1. parse and validate the envelope (`protocol`), count it against the connection's budget (`security`)
 * 2. queue behind the client's earlier events      3. find the handler (`state`), check its `@Throttle` limits
 * 4. run the bridge tier (`bridge`), resolve and validate the handler's arguments (`state`; on `full` in step 5,
 *    after the handler's guards and interceptors, as Nest orders them)
 * 5. lock the state, run the handler on a per-event view, commit each step's delta (`state/store`)
 * 6. emit deltas, then client events; queue server follow-ups.
 *
 * Steps are written with the `MaybePromise` helpers: an event that needs no I/O (tier `none`, a synchronous
 * handler, the in-memory store, an uncontended lock) runs start to finish synchronously, without a
 * promise; the first step that must wait turns the rest of that event asynchronous.
 */
@Injectable()
export class EventPipeline implements OnApplicationBootstrap {
  private readonly logger = new Logger('ReflexBridge');
  private readonly handlerErrors = new RepeatedErrorLog(HANDLER_ERROR_LOG_LIMITS);
  /** The state store's outages, logged once each however many events they refuse. */
  private readonly storeOutage = new OutageLog(this.logger, 'The state store');
  /**
   * Its failures under a lease that was granted (a save lost, refused or unanswered), logged once per outage too, and
   * apart from {@link storeOutage}: a store that grants locks but fails saves would otherwise end and start an outage
   * at every event. Ended by an event whose work under the lease succeeded.
   */
  private readonly leaseOutage = new OutageLog(this.logger, 'The state store (saving events\' changes)');
  /** Failed lock releases (Redis unreachable), once per outage: the event's own outcome stands, the lock expires. */
  private readonly releaseOutage = new OutageLog(this.logger, 'The state store (releasing state locks)');
  private readonly queue: TokenQueue;
  /**
   * Events refused for `maxTotalQueuedBytes` since the last warning, and when that was: warned at most once a minute,
   * since a flood brings thousands of them, and without a line at all an operator saw users refused `busy` and
   * nothing said why.
   */
  private refusedForTotal = 0;
  private totalWarnedAt = Number.NEGATIVE_INFINITY;
  /** Answer to a client event over its queue's limits (one instance: refusals stay cheap under a flood). */
  private readonly busy: BridgeError;
  /**
   * Set once the app began shutting down ({@link stop}): client events are refused `server_stopping`, except those of a
   * client with an event still running here, which queue behind it and run within `shutdownGraceMs`.
   */
  private stopping = false;
  /** Set once `shutdownGraceMs` ran out in {@link stop}: every client event is refused `server_stopping`. */
  private graceOver = false;
  /** Called when the shutdown begins (the upload route refuses new uploads, and has the drain wait for those under way). */
  private readonly stopListeners: Array<() => Promise<void> | void> = [];
  /** What the {@link onStop} listeners asked the drain to wait for (within `shutdownGraceMs`). */
  private readonly stopWaits: Array<Promise<void>> = [];
  /** Called once, when `shutdownGraceMs` ran out with work still running (see {@link onGraceOver}). */
  private readonly graceOverListeners: Array<() => void> = [];
  /** The `busy` answers as shared messages, encoded once per event name (see {@link BusyAnswers}). */
  private readonly busyAnswers: BusyAnswers;
  private readonly stateSize = new StateSizeMeter();
  /** The `live_subscribe` handler made for each state with live lists that declares none (see {@link liveSubscribeOf}). */
  private readonly liveSubscribes = new Map<StateDefinition, HandlerDefinition>();
  /** The app's `bridge.withheldHeaders`: left out of the `router` var beside the module's own list. */
  private readonly withheldHeaders: ReadonlySet<string>;
  /**
   * The latest page load of each token whose page's on-load handlers are still queued (see {@link queuePageLoad}),
   * by number: an entry lives from an `on_load_internal` to its `set_is_hydrated`.
   */
  private readonly pageLoads = new Map<string, number>();
  private pageLoadCount = 0;
  /** `rateLimit.newStates` or `rateLimit.newTabs` is on: a state without the full TTL yet is leased through a {@link NewStateLease}. */
  private readonly countsNewStatesOrTabs: boolean;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly registry: StateRegistry,
    private readonly store: StateStore,
    private readonly bridge: BridgeRunner,
    private readonly metrics: BridgeMetrics,
    private readonly liveLists: LiveListSubscriptions,
    private readonly rateLimiter: EventRateLimiter,
    private readonly ownership: TokenOwnership,
    private readonly frontendExceptions: FrontendExceptionLog,
    private readonly errorPresenter: BridgeErrorPresenter,
    private readonly onLoad: OnLoadRoutes,
    private readonly clientStorage: ClientStorageVars,
  ) {
    const { maxQueuedEvents, maxQueuedBytes, maxTotalQueuedBytes } = options;
    this.queue = new TokenQueue({ maxQueuedEvents, maxQueuedBytes, maxTotalQueuedBytes });
    this.withheldHeaders = new Set(options.bridge.withheldHeaders);
    this.countsNewStatesOrTabs = rateLimiter.countsNewStatesOrTabs;
    this.busy = new BridgeError('busy', `Too many events are waiting for this client (at most ${maxQueuedEvents} events or ${maxQueuedBytes} bytes), or for all clients of this server; this one was dropped. Send it again once earlier events were answered.`);
    const busy = this.busy;
    this.busyAnswers = new BusyAnswers(
      (eventName) => busy.toPayload(eventName),
      (payload) => this.presented(payload),
    );
  }

  onApplicationBootstrap(): Promise<void> {
    // The built-in live_subscribe of each state with live lists, made now: its class's @Throttle / @SkipThrottle are
    // then read at startup, as every handler's are (an invalid limit stops the app here, not at a client's event).
    for (const state of this.registry.states()) {
      if (this.liveLists.hasLiveLists(state) && this.registry.findHandler(`${state.fullName}.${LIVE_SUBSCRIBE}`) === undefined) this.liveSubscribeOf(state);
    }
    return this.bridge.prepareEnhancers([...this.registry.handlerDefinitions()]);
  }

  /**
   * Handles one inbound `event` frame from `client`. Never throws: every problem becomes a `bridge_error`
   * for that client alone. Returns nothing when the event completed synchronously, else a promise that
   * settles once it has been handled. `bytes` is the frame's size as received; an event that would take
   * the client's queue over `maxQueuedEvents` / `maxQueuedBytes` is answered with `busy` and dropped.
   */
  handle(client: EventClient, frame: unknown, bytes = 0): MaybePromise<void> {
    const token = client.token;
    let routed: RoutedEvent;
    let values: number;
    try {
      if (!token) throw new BridgeError('no_token', 'This connection has no client token.');
      const event = parseInboundEvent(frame);
      values = valuesInLastEvent();
      routed = { name: event.name, payload: event.payload, routerData: this.routerDataFor(client, token, event) };
    } catch (error) {
      // A frame that is no event counts against the connection's budget too (under a name no handler has, so no
      // `@SkipThrottle()` exempts it): a flood of malformed frames is stopped like any other (see the gateway), and
      // past the budget only its first refusal is shown to the user, as for events.
      const wait = this.rateLimiter.admitConnection(client, '');
      this.reportError(client, error, undefined, wait === 0 || this.rateLimiter.isFirstRefusal(client));
      return;
    }
    // The connection's budget is counted on arrival, before queueing: a flood is refused at the door instead of
    // piling up behind a slow handler.
    const wait = this.rateLimiter.admitConnection(client, routed.name);
    if (wait !== 0) {
      // Shown once per block (its first refusal); the refusals after it get the structured error alone.
      this.sendError(client, this.rateLimiter.refusal(routed.name, wait), this.rateLimiter.isFirstRefusal(client));
      return;
    }
    // After the budget: a client flooding during the shutdown is refused as at any other time, not answered per frame.
    // A client with an event running here still has its socket open until that event ends: what it sends meanwhile
    // queues behind it and runs within the grace. Refused, it was lost: Reflex's state.js neither reads `bridge_error`
    // nor sends an event twice, so its user saw an error toast for a normal restart and the click undone.
    if (this.stopping && (this.graceOver || !this.queue.has(token))) {
      this.refuseStopping(client, routed);
      return;
    }
    // Nothing queued for the token (the common case): the event runs here, without a task closure for the queue.
    if (this.queue.startsNow(token)) {
      let result: MaybePromise<void>;
      try {
        result = this.process(client, token, routed, true);
      } catch {
        // process reports every failure itself; what escapes it (the client's socket failing) ends here, as in the queue.
        return;
      }
      return isPromise(result) ? this.queue.track(token, result) : undefined;
    }
    // What the event holds while it waits: its frame's size, and its parsed values, which take up to about 21 times
    // their JSON (an empty object, 3 bytes of JSON, takes 64 bytes).
    const size = bytes + values * PARSED_VALUE_BYTES;
    if (!this.queue.accepts(token, size)) {
      if (this.queue.passesTotal(size)) {
        this.warnTotalReached();
        // Not read again (the gateway) until this client's own events move on.
        this.queue.refusedForTotal(token);
      }
      this.refuseBusy(client, routed.name, this.queue.refused(token));
      return;
    }
    return this.queue.runLater(token, () => this.processQueued(client, token, routed, size), size);
  }

  /**
   * A queued event whose turn came: held, with its token's queue, while its client does not read the output before
   * it (see {@link EventClient.outputBacklogged}), and run once it has, so that up to `maxQueuedEvents` events queued
   * behind a slow handler cannot each add an answer nobody reads. Held rather than refused: the output may be live
   * changes the server sent on its own, and a client on a slow link reads it, later; a queued event refused then (a
   * page's `live_subscribe` behind its list's load) was dropped without the user seeing why. A client that never
   * reads is not read either (the gateway) and leaves at its ping timeout, which ends the wait.
   */
  private processQueued(client: EventClient, token: string, routed: RoutedEvent, size: number): MaybePromise<void> {
    // Its turn came after the shutdown's grace ran out: not run (the app is closing what handlers use), and told so,
    // rather than lost with the socket. Within the grace it runs, as the event before it did.
    if (this.graceOver) {
      this.refuseStopping(client, routed);
      return;
    }
    if (client.outputBacklogged?.()) {
      if (client.whenOutputDrained) {
        // Out of the queue but still held, until the client reads (up to its ping timeout): still counted against
        // maxTotalQueuedBytes (the queue just gave `size` back, so it fits), or each token of a client that does not
        // read held one event of up to ~21 MB parsed here, uncounted.
        if (!this.queue.reserve(size)) {
          this.warnTotalReached();
          this.refuseBusy(client, routed.name, this.queue.refused(token));
          return;
        }
        const whenOutputDrained = client.whenOutputDrained.bind(client);
        return new Promise<void>((resume) => whenOutputDrained(resume)).then(() => {
          this.queue.release(size);
          return this.process(client, token, routed, true);
        });
      }
      this.reportError(client, OUTPUT_BACKLOG_ERROR, routed.name, false);
      return;
    }
    return this.process(client, token, routed, true);
  }


  /**
   * The app is shutting down (the gateway calls this before Nest closes the sockets): client events from now on are
   * answered `server_stopping` and not run, except those of a client whose event is still running here, which queue
   * behind it and run; resolves once every client's queue has ended (changes saved, answers sent), or after
   * `shutdownGraceMs`, from when on every event is refused.
   */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      for (const listener of this.stopListeners) {
        const wait = listener();
        if (wait) this.stopWaits.push(wait);
      }
    }
    if (this.queue.size === 0 && this.stopWaits.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, this.options.shutdownGraceMs, false)));
    const drained = await Promise.race([Promise.all([this.queue.whenAllIdle(), ...this.stopWaits]).then(() => true), grace]);
    clearTimeout(timer);
    if (drained) return;
    if (!this.graceOver) {
      this.graceOver = true;
      for (const listener of this.graceOverListeners) listener();
    }
    if (this.queue.size > 0) this.logger.warn(`Shutting down with events of ${this.queue.size} client(s) still running after shutdownGraceMs (${this.options.shutdownGraceMs} ms).`);
  }

  /** True once the shutdown began ({@link stop}): work the server would start on its own from now on is not started. */
  get shuttingDown(): boolean {
    return this.stopping;
  }

  /**
   * Calls `listener` once, when the shutdown begins ({@link stop}); the drain also waits (within `shutdownGraceMs`)
   * for the promise it returns, if any: the uploads under way then.
   */
  onStop(listener: () => Promise<void> | void): void {
    this.stopListeners.push(listener);
  }

  /** Calls `listener` once, if `shutdownGraceMs` runs out before the drain ended: what still runs is then cut short. */
  onGraceOver(listener: () => void): void {
    this.graceOverListeners.push(listener);
  }

  /** True while events or other work of `token` are queued or running on this worker. */
  isBusy(token: string): boolean {
    return this.queue.has(token);
  }

  /** Resolves once nothing of `token` is queued or running on this worker (at once when nothing is). */
  whenIdle(token: string): Promise<void> {
    return this.queue.whenIdle(token);
  }

  /**
   * Takes `bytes` of the worker's `maxTotalQueuedBytes` for a client event the gateway holds while its client's output
   * drains; false, taking nothing, when the worker's waiting events already take it (the event is refused `busy`).
   */
  reserveHeld(bytes: number): boolean {
    if (this.queue.reserve(bytes)) return true;
    this.warnTotalReached();
    return false;
  }

  /** Counts an event refused for `maxTotalQueuedBytes`, and says so in the log at most once a minute. */
  private warnTotalReached(): void {
    this.refusedForTotal += 1;
    const now = Date.now();
    if (now - this.totalWarnedAt < 60_000) return;
    this.logger.warn(
      `Refused ${this.refusedForTotal} event(s) with busy: the events waiting on this worker reached maxTotalQueuedBytes (${this.options.maxTotalQueuedBytes}). Clients holding many connections may be flooding it, or handlers are slow; events that need not wait still run.`,
    );
    this.refusedForTotal = 0;
    this.totalWarnedAt = now;
  }

  /** Gives back what {@link reserveHeld} took, once the held events were handed on (or their client left). */
  releaseHeld(bytes: number): void {
    this.queue.release(bytes);
  }

  /** The size of the client events waiting on this worker, as `maxTotalQueuedBytes` counts them (for tests). */
  get queuedBytes(): number {
    return this.queue.queuedBytes;
  }

  /** True while `token`'s queue is full (its next event would get `busy`): the gateway stops reading its socket. */
  isQueueFull(token: string): boolean {
    return this.queue.isFull(token);
  }

  /**
   * True while the gateway should not read `token`'s socket: its queue is full ({@link isQueueFull}), or an event of it
   * was refused for `maxTotalQueuedBytes` and none of its events has started since (read again once one has,
   * {@link onQueueDrained}, a second at most at a time).
   */
  stopsReading(token: string): boolean {
    return this.queue.stopsReading(token);
  }

  /**
   * Milliseconds until `client`'s connection budget (`rateLimit.perConnection`) lets its events through again, 0
   * while it does: the gateway does not read a socket whose events would only be refused.
   */
  connectionBlockedForMs(client: EventClient): number {
    return this.rateLimiter.connectionBlockedForMs(client);
  }

  /** See {@link EventRateLimiter.nextEventRefusedForMs}: an event frame of `client` may be refused unparsed meanwhile. */
  nextEventRefusedForMs(client: EventClient): number {
    return this.rateLimiter.nextEventRefusedForMs(client);
  }

  /** Counts messages other than events against `client`'s connection budget (see {@link EventRateLimiter.chargeConnection}). */
  chargeConnection(client: EventClient, units: number): number {
    return this.rateLimiter.chargeConnection(client, units);
  }

  /** Calls `callback` once `token`'s queue has drained to half its limits (at once when it has). */
  onQueueDrained(token: string, callback: () => void): void {
    this.queue.onDrained(token, callback);
  }

  /**
   * Runs `task` on `token`'s queue, behind everything queued for it now (the running event included), without its
   * state lease: for work that must see what those events leave (the cookie an event hands its socket).
   * Resolves with the task's result, rejects with its failure.
   *
   * `task` changes the token's states with the `modify` it is given ({@link modify}'s lease, commit and delta, in the
   * task's own turn of the queue): no event of the token runs between what the task read and what it writes. (The
   * pipeline's {@link modify} would wait behind the task, which waits for it.)
   */
  async runQueued<T>(token: string, task: (modify: QueuedModify) => Promise<T>): Promise<T> {
    const settled: Array<{ value: T } | { error: unknown }> = [];
    const modify: QueuedModify = (stateClass, change, client) => this.modifyLeased(token, this.registry.definitionOf(stateClass), change, client);
    await this.queue.run(token, () =>
      task(modify).then(
        (value) => void settled.push({ value }),
        (error: unknown) => void settled.push({ error }),
      ),
    );
    const outcome = settled[0] ?? { error: new Error('ReflexBridge: a queued task did not run') };
    if ('error' in outcome) throw outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error));
    return outcome.value;
  }

  /**
   * Sends `client` its states as the store holds them: every state's vars and computed vars, as `hydrate` sends them
   * (the root state left out: the tab's page and hydration flags stay as they are). For a tab that may have missed a
   * change made on another worker (its broadcast was dropped): deltas carry whole values, so the tab then shows what
   * the store holds. In the token's turn of the queue and under its lease, so no event or change of the token runs
   * between the read and the send; a token without state is left alone. Never rejects (a store that fails is logged).
   */
  async resync(client: EventClient): Promise<void> {
    const { token } = client;
    if (token === undefined) return;
    try {
      await this.queue.run(token, () =>
        this.withLease(token, (lease, tree) => {
          if (lease.state === null) return;
          const failures: ComputedVarFailure[] = [];
          const delta: Delta = {};
          for (const definition of this.registry.states()) delta[definition.fullName] = this.wholeState(definition, tree.state, failures);
          client.emitUpdate({ delta });
          this.reportComputed(client, undefined, failures);
        }),
      );
    } catch (error) {
      // The store's outage is logged once by acquireLease; a line per tab would bury it.
      this.logger.debug(`Could not send a tab the state it may have missed: ${(error as Error)?.message ?? String(error)}`);
    }
  }

  /**
   * Changes one client's state from outside an event (an HTTP route, a job, a live update), under the same
   * lock and queue as its events, and pushes the delta to the client when it is connected here.
   */
  async modify<T extends object>(
    token: string,
    stateClass: abstract new (...args: never[]) => T,
    change: (state: T) => void | Promise<void>,
    client?: EventClient,
  ): Promise<void> {
    const definition = this.registry.definitionOf(stateClass);
    let failure: unknown;
    await this.queue.run(token, async () => {
      try {
        await this.modifyLeased(token, definition, change, client);
      } catch (error) {
        failure = error;
      }
    });
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error(String(failure));
  }

  /** {@link modify} once the token's turn in its queue came: under its state lease, commit, the delta to `client`. */
  private async modifyLeased<T extends object>(token: string, definition: StateDefinition, change: (state: T) => void | Promise<void>, client: EventClient | undefined): Promise<void> {
    await this.withLease(token, async (lease, tree) => {
      if (lease.state === null) throw new UnknownClientTokenError('unknown');
      const view = new StateView(definition, tree.state[definition.fullName]);
      await change(view.target as T);
      const failures: ComputedVarFailure[] = [];
      const delta = await this.commit(lease, tree, view, failures);
      if (delta && client) client.emitUpdate({ delta });
      this.reportComputed(client, undefined, failures);
    });
  }

  /**
   * Runs an upload's handler: on the token's queue, behind its earlier events, under its state lease (the same
   * lock as events, cluster-wide with the Redis store), with the upload's arguments. The tier already ran on
   * the upload's own request (see `BridgeRunner.runOnRequest`); the session is saved when the route ends that
   * request's response. Deltas and client events go to `call.client`, step by step as for events; server
   * events the handler returns are queued after it. An upload never creates state: a token without state is
   * refused (`UnknownClientTokenError`). Resolves when the handler ended and its steps were committed; rejects
   * with what failed (the caller reports it: nothing is sent to any client here).
   */
  runUpload(token: string, call: UploadCall): Promise<void> {
    const { client, handler, outcome, routerData } = call;
    const event: RoutedEvent = { name: handler.fullName, payload: call.payload, routerData, pageless: true };
    let failure: { error: unknown } | undefined;
    const ran = this.queue.enqueue(token, () =>
      tryCatch(
        () => {
          const sources = { payload: call.payload, params: routerData.query, request: outcome.request, upload: call.upload, uploadSignal: call.cancel.signal, pipesInEnhancers: this.bridge.callsThroughEnhancers(outcome) };
          return then(resolveHandlerArguments(handler, sources), (values) => this.runUploadLocked(client, token, handler, event, outcome, values, call.cancel));
        },
        (error) => void (failure = { error }),
      ),
    );
    return ran.then(() => {
      // The upload as an event in the metrics and devtools (the route started its timer with the tier).
      if (failure) {
        this.metrics.fail(outcome.timer, failure.error);
        throw failure.error;
      }
      outcome.timer?.trace?.who(outcome.request);
      this.metrics.finish(outcome.timer);
    });
  }

  /**
   * {@link runLocked} for an upload: the token must have state, and the route, not the bridge, ends the response.
   * An upload cancelled before its turn came (`cancel` already aborted) fails with the cancellation, its handler
   * never called.
   * An upload may outlast the lock's expiry (a slow client, a big file), so the lock is renewed while the handler
   * runs; when it is lost, `cancel` is aborted (the handler's signal fires, a streaming loop throws) and the upload
   * fails with `state_lock_lost` whatever the handler then did (its later saves are refused by the store anyway).
   */
  private runUploadLocked(client: EventClient, token: string, handler: HandlerDefinition, event: RoutedEvent, outcome: BridgeOutcome, args: unknown[], cancel: AbortController): MaybePromise<void> {
    const followUps: ServerEvent[] = [];
    const ran = this.withClientLease(client, token, (lease, tree) => {
      // Cancelled while it waited for its turn (behind the tab's other events, or for the lock): the user took the
      // upload back before its handler started, so it never starts, as Reflex cancels a disconnected upload's task.
      if (cancel.signal.aborted) throw cancel.signal.reason;
      if (lease.state === null) throw new UnknownClientTokenError('unknown');
      const renewal = LeaseRenewal.start(lease, (lost) => cancel.abort(lost), this.logger);
      const body = () =>
        tryFinally(
          () => this.runOnView({ client, token, handler, outcome, args, lease, tree, followUps, event }),
          () => {
            if (outcome.request) detachEventContext(outcome.request);
            // Still under the lease: an authenticated upload binds the token to its session, as an event does.
            return this.ownership.afterEvent(outcome.request, outcome.sessionIdBefore, client, lease, tree);
          },
        );
      if (!renewal) return body();
      return tryFinally(
        () =>
          tryCatch(body, (error) => {
            throw renewal.lost ?? error;
          }),
        // Before the lease is released, whatever happened.
        () => renewal.stop(),
      );
    });
    return then(ran, () => {
      for (const followUp of followUps) void this.enqueueServerEvent(client, token, followUp, event);
    });
  }

  /**
   * Runs one event and reports its failure to the client. Never throws. `fromClient` is false for the server
   * events handlers return: those are the app's own, not subject to rate limits.
   */
  private process(client: EventClient, token: string, event: RoutedEvent, fromClient: boolean): MaybePromise<void> {
    // `tryCatch` written out: this runs for every event, and the synchronous path then makes no closure.
    let result: MaybePromise<void>;
    try {
      result = this.dispatch(client, token, event, fromClient);
    } catch (error) {
      this.reportError(client, error, event.name);
      return;
    }
    return isPromise(result) ? result.catch((error: unknown) => this.reportError(client, error, event.name)) : undefined;
  }

  private dispatch(client: EventClient, token: string, event: RoutedEvent, fromClient: boolean): MaybePromise<void> {
    switch (event.name) {
      case HYDRATE:
        return this.hydrate(client, token, event);
      case ON_LOAD_INTERNAL:
        return this.onLoadInternal(client, token, event);
      case SET_IS_HYDRATED:
        return this.setHydrated(client, token, event);
      case UPDATE_VARS_INTERNAL:
        return this.updateVars(client, token, event);
      case HANDLE_FRONTEND_EXCEPTION:
        // The browser's uncaught error: logged (bounded), never answered, no state touched.
        this.frontendExceptions.record(client, event.payload);
        return;
    }
    const handler = this.registry.findHandler(event.name);
    // `<state>.live_subscribe` of a state with live lists is the subscription, even where the state has a handler
    // of that name: checked only for such names (a registered handler's method name tells, without a string search).
    if (handler === undefined || handler.method === LIVE_SUBSCRIBE) {
      if (event.name.endsWith(LIVE_SUBSCRIBE_SUFFIX)) {
        const definition = this.registry.stateByFullName(event.name.slice(0, -LIVE_SUBSCRIBE_SUFFIX.length));
        if (definition && this.liveLists.hasLiveLists(definition)) {
          const subscribe = handler ?? this.liveSubscribeOf(definition);
          // Limited like any handler: its tier and guards (a session read, a database lookup) run for each one.
          const wait = fromClient ? this.rateLimiter.checkHandler(subscribe, event.routerData.ip) : 0;
          if (wait === 0) return this.subscribeLive(client, token, subscribe, event);
          return this.afterThrottle(client, event, wait, () => this.subscribeLive(client, token, subscribe, event));
        }
      }
    }
    if (!handler) throw new BridgeError('unknown_handler', `No event handler is registered as "${event.name}".`);
    // Files arrive over `POST <prefix>/_upload` only: an event can never give such a handler its upload, so it is
    // refused before its tier runs (a guard's session read or database work would be spent on an event that fails).
    if (handler.upload !== undefined) throw new BridgeError('invalid_payload', uploadOnlyMessage(handler));
    if (!fromClient) return this.runHandler(client, token, handler, event);
    // The handler's @Throttle limits, before the bridge tier spends anything on the event. The IP in the router
    // data is the server's (routerDataFor overwrites whatever the client sent). No closure unless the limiter has to
    // be waited for: this runs for every event.
    const wait = this.rateLimiter.checkHandler(handler, event.routerData.ip);
    if (wait === 0) return this.runHandler(client, token, handler, event);
    return this.afterThrottle(client, event, wait, () => this.runHandler(client, token, handler, event));
  }

  /**
   * A client's event that its handler's @Throttle limits did not let through at once (`wait`: the milliseconds to wait,
   * or the limiter's promise of them): `run` once they say 0, else a `rate_limited` error and nothing runs.
   */
  private afterThrottle(client: EventClient, event: RoutedEvent, wait: MaybePromise<number>, run: () => MaybePromise<void>): MaybePromise<void> {
    return then(wait, (ms) => {
      if (ms === 0) return run();
      this.sendError(client, this.rateLimiter.refusal(event.name, ms));
    });
  }

  /** The bridge tier, then the handler's arguments, then the handler under the state lock. */
  private runHandler(client: EventClient, token: string, handler: HandlerDefinition, event: RoutedEvent): MaybePromise<void> {
    const timer = this.metrics.start(handler.fullName);
    // Devtools on: the event's trace also records where it came from and how it failed.
    if (timer?.trace) return this.metrics.traced(timer, token, event.routerData.pathname, () => this.runTimed(client, token, handler, event, timer));
    return this.runTimed(client, token, handler, event, timer);
  }

  private runTimed(client: EventClient, token: string, handler: HandlerDefinition, event: RoutedEvent, timer: EventTimer | undefined): MaybePromise<void> {
    // Each step's promise case written out (here and below), so that a synchronous event makes no closure.
    const outcome = this.bridge.run(handler, event.routerData, client, timer);
    if (isPromise(outcome)) return outcome.then((ran) => this.afterTier(client, token, handler, event, ran));
    return this.afterTier(client, token, handler, event, outcome);
  }

  /** After the tier: a redirect ends the event; else the handler's arguments, then the handler under the state lock. */
  private afterTier(client: EventClient, token: string, handler: HandlerDefinition, event: RoutedEvent, outcome: BridgeOutcome): MaybePromise<void> {
    if (outcome.redirect) {
      client.emitUpdate({ events: [outcome.redirect] });
      this.metrics.finish(outcome.timer);
      return;
    }
    // On `full` the arguments are resolved in the handler's Nest call, after its guards and interceptors (Nest's order):
    // a client the guards refuse is told `forbidden`, not the payload's field names (see PendingArguments).
    if (this.bridge.callsThroughEnhancers(outcome)) {
      const pending = { payload: event.payload, params: event.routerData.query, request: outcome.request, pipesInEnhancers: true };
      return this.runLocked(client, token, handler, event, outcome, { pending });
    }
    const trace = outcome.timer?.trace;
    const resolved = resolveHandlerArguments(handler, {
      payload: event.payload,
      params: event.routerData.query,
      request: outcome.request,
      // Devtools on: each `@Payload` pipe run here (none, auth_only) is a step of the event, as on full.
      pipeRecorder: trace && ((pipe, start) => trace.step('pipes', enhancerName(pipe), start)),
    });
    if (isPromise(resolved)) return resolved.then((values) => this.runLocked(client, token, handler, event, outcome, values));
    return this.runLocked(client, token, handler, event, outcome, resolved);
  }

  /** Runs the handler under the token's lease, ends the bridge's response, then queues the follow-ups. */
  private runLocked(client: EventClient, token: string, handler: HandlerDefinition, event: RoutedEvent, outcome: BridgeOutcome, args: unknown[] | PendingArguments): MaybePromise<void> {
    const granted = this.store.tryAcquireSync?.(token);
    if (granted) {
      const lease = this.leaseFor(granted, client);
      return this.runLeased({ client, token, handler, outcome, args, lease, tree: treeOf(lease), followUps: [], event });
    }
    return this.acquireLease(token).then((acquired) => {
      const lease = this.leaseFor(acquired, client);
      return this.runLeased({ client, token, handler, outcome, args, lease, tree: treeOf(lease), followUps: [], event });
    });
  }

  /**
   * The handler on its lease; then, whatever happened, the end of the event ({@link endEvent}, whose own failure wins)
   * and the release; then the follow-ups, or the failure as the client's error (see {@link storeFailure}). It is
   * {@link withLease} around `tryFinally` written out as one step: when the handler or its save waits (an async
   * handler, the Redis store), the rest of the event is one continuation instead of one promise per layer.
   */
  private runLeased(run: HandlerRun): MaybePromise<void> {
    let ran: MaybePromise<void>;
    try {
      if (hasSeenAPage(run.tree.state)) {
        const followed = this.followPage(run);
        ran = isPromise(followed) ? followed.then(() => this.runOnView(run)) : this.runOnView(run);
      } else {
        ran = then(this.rehydrate(run.client, run.token, run.lease, run.tree, run.event, true), () => this.runOnView(run));
      }
    } catch (error) {
      return this.endLeased(run, error);
    }
    if (isPromise(ran)) return ran.then(() => this.endLeased(run, NO_FAILURE), (error: unknown) => this.endLeased(run, error));
    return this.endLeased(run, NO_FAILURE);
  }

  /**
   * Reflex rebuilds the root `router` var from every event's `router_data`, so a page whose URL changed without a
   * navigation (`history.replaceState` from a script) shows the new URL from its next event on. Before the handler,
   * under its lease: when the event's page (with its route's arguments, as `on_load_internal` puts them) makes another
   * `router` var than the stored one, the var is saved and sent. An event a handler returned carries the router data
   * of the event that returned it, as in Reflex, so it shows the page that event came from; an upload names no page
   * (Reflex's upload event has no router data), so the events its handler returns leave the var as it is.
   */
  private followPage(run: HandlerRun): MaybePromise<void> {
    const root = run.tree.state[ROOT_STATE_NAME]!;
    if (run.event.pageless || routerVarShows(root['router'], run.event.routerData)) return;
    const router = buildRouterVar(this.pageOf(run.event).routed.routerData, this.withheldHeaders);
    if (JSON.stringify(router) === JSON.stringify(root['router'])) return;
    const state = { ...run.tree.state, [ROOT_STATE_NAME]: { ...root, router } };
    const stateSize = this.stateSize.sizeOf(state);
    this.refuseOver(stateSize);
    run.tree.state = state;
    run.tree.measured = state;
    run.tree.bytes = stateSize;
    return then(run.lease.save(state, { provisional: isProvisional(state), stateSize }), () => {
      run.client.emitUpdate({ delta: { [ROOT_STATE_NAME]: { [varKey('router')]: router } } });
    });
  }

  private endLeased(run: HandlerRun, failure: unknown): MaybePromise<void> {
    let ended: MaybePromise<void>;
    try {
      ended = this.endEvent(run.client, run.outcome, run.lease, run.tree);
    } catch (error) {
      return this.releaseLeased(run, error);
    }
    if (isPromise(ended)) return ended.then(() => this.releaseLeased(run, failure), (error: unknown) => this.releaseLeased(run, error));
    return this.releaseLeased(run, failure);
  }

  private releaseLeased(run: HandlerRun, failure: unknown): MaybePromise<void> {
    if (failure !== NO_FAILURE) return this.releaseAndThrow(run.lease, this.storeFailure(failure));
    this.leaseOutage.succeeded();
    const released = this.release(run.lease);
    if (isPromise(released)) return released.then(() => this.queueFollowUps(run.client, run.token, run.followUps, run.event));
    this.queueFollowUps(run.client, run.token, run.followUps, run.event);
  }

  /** After the handler, still under the lease: the bridge's response ends (session saved, cookies handed off). */
  private endEvent(client: EventClient, outcome: BridgeOutcome, lease: StateLease, tree: { state: StoredState }): MaybePromise<void> {
    // The handler is done: the request stops carrying its context (see detachEventContext).
    if (outcome.request) detachEventContext(outcome.request);
    // Devtools on: the session save and cookie handoff are drawn as the event's last step.
    const ending = outcome.timer?.trace && outcome.response ? performance.now() : 0;
    const finished = this.bridge.finish(outcome, client);
    if (isPromise(finished)) return finished.then(() => this.eventEnded(client, outcome, lease, tree, ending));
    return this.eventEnded(client, outcome, lease, tree, ending);
  }

  private eventEnded(client: EventClient, outcome: BridgeOutcome, lease: StateLease, tree: { state: StoredState }, ending: number): MaybePromise<void> {
    if (ending) outcome.timer!.trace!.step('finish', 'finish', ending);
    // The event's change stands; only its new cookie was not handed to the browser: the user is told why.
    if (outcome.handoffRefusal) this.sendError(client, outcome.handoffRefusal);
    outcome.timer?.trace?.who(outcome.request);
    this.metrics.finish(outcome.timer);
    // Still under the lease: an authenticated event binds the token to its session (see TokenOwnership).
    return this.ownership.afterEvent(outcome.request, outcome.sessionIdBefore, client, lease, tree);
  }

  /** The server events the handler returned, each run after everything already queued for the token. */
  private queueFollowUps(client: EventClient, token: string, followUps: ServerEvent[], event: RoutedEvent): void {
    for (const followUp of followUps) void this.enqueueServerEvent(client, token, followUp, event);
  }

  /** Calls the handler on a fresh view of the client's state, then commits what it did. */
  private runOnView(run: HandlerRun): MaybePromise<void> {
    const { handler, outcome, args } = run;
    const view = new StateView(handler.state, run.tree.state[handler.state.fullName]);
    const trace = outcome.timer?.trace;
    const context: EventContext = { tier: outcome.tier, handlerName: handler.fullName, token: run.token, request: outcome.request, target: view.target, args, trace };
    // The view and the request carry the context (AppState's getters, the enhanced handler); the free
    // accessors (currentRequest, ...) read it through AsyncLocalStorage when `bridge.asyncContext` is on.
    attachEventContext(view.target, context);
    if (outcome.request) attachEventContext(outcome.request, context);
    let result: unknown;
    const asyncContext = this.options.bridge.asyncContext === true;
    if (trace || asyncContext) {
      const call = () => this.bridge.invoke(outcome, handler, view.target, args);
      // Devtools on: the handler runs with its trace current, where the query subscriber finds it.
      result = runInEventContext(context, asyncContext, trace ? () => trace.run(call) : call);
    } else {
      // runInEventContext written out for the common event: no closure made and called per event.
      const previous = enterEventContext(context);
      try {
        result = this.bridge.invoke(outcome, handler, view.target, args);
      } finally {
        leaveEventContext(previous);
      }
    }
    if (isThenable(result)) return Promise.resolve(result).then((value) => this.settle(run, view, context, value));
    return this.settle(run, view, context, result);
  }

  /** What the handler returned: a stream of steps (generators), or one step. */
  private settle(run: HandlerRun, view: StateView, context: EventContext, result: unknown): MaybePromise<void> {
    if (run.handler.streaming && result !== null && typeof result === 'object') {
      if (Symbol.asyncIterator in result) return this.stream(run, view, context, (result as AsyncGenerator<unknown, unknown>)[Symbol.asyncIterator]());
      if (Symbol.iterator in result) return this.stream(run, view, context, (result as Generator<unknown, unknown>)[Symbol.iterator]());
    }
    return this.step(run, view, result);
  }

  /** A streaming handler: one committed and emitted step per yield, and one for its return value. */
  private async stream(run: HandlerRun, view: StateView, context: EventContext, iterator: AsyncIterator<unknown, unknown> | Iterator<unknown, unknown>): Promise<void> {
    // The generator's body runs in `next()`, not in the handler call: devtools on, each step runs with the
    // trace current too, so the query subscriber counts the queries of every step.
    const trace = context.trace;
    const advance = trace ? () => trace.run(() => iterator.next()) : () => iterator.next();
    for (;;) {
      const next = await runInEventContext(context, this.options.bridge.asyncContext === true, advance);
      await this.step(run, view, next.value);
      if (next.done) break;
    }
  }

  /** Commits the view's changes, then emits the delta and the step's client events. */
  private step(run: HandlerRun, view: StateView, produced: unknown): MaybePromise<void> {
    const commitStart = run.outcome.timer ? performance.now() : 0;
    this.bridge.afterStep(run.outcome, view);
    // {@link commit} written out: a save that waits (the Redis store) then makes one promise here, not two.
    const changes = this.stage(run.tree, view);
    if (!changes) return this.emitStep(run, produced, undefined, commitStart);
    const committed = run.tree.state[view.definition.fullName]!;
    const saved = run.lease.save(run.tree.state, sizedSave(run.tree));
    if (isPromise(saved)) return saved.then(() => this.emitCommitted(run, produced, view, committed, changes, commitStart));
    this.emitCommitted(run, produced, view, committed, changes, commitStart);
  }

  /** {@link emitStep} for a saved step; a computed var that threw is reported after the delta of the rest. */
  private emitCommitted(run: HandlerRun, produced: unknown, view: StateView, committed: Record<string, unknown>, changes: Record<string, unknown>, commitStart: number): void {
    const failures: ComputedVarFailure[] = [];
    this.emitStep(run, produced, this.committedDelta(view, committed, changes, failures), commitStart);
    this.reportComputed(run.client, run.event.name, failures);
  }

  /** Sends a committed step: its delta, then the client events the handler produced (server events are queued). */
  private emitStep(run: HandlerRun, produced: unknown, delta: Delta | undefined, commitStart: number): void {
    const timer = run.outcome.timer;
    const emitStart = timer ? performance.now() : 0;
    timer?.add('delta', emitStart - commitStart);
    if (delta) {
      run.client.emitUpdate({ delta });
      timer?.trace?.sent(delta);
    }
    // Most handlers return nothing: no arrays are made for them.
    if (produced !== undefined && produced !== null) {
      const clientEvents = this.collectEvents(produced, run.followUps);
      if (clientEvents.length) run.client.emitUpdate({ events: clientEvents });
    }
    timer?.add('emit', performance.now() - emitStart);
  }

  /**
   * Starts the connection's live-list subscription for a state (`subscribe`: the state's own `live_subscribe`
   * handler, or the one {@link liveSubscribeOf} made), once its tier and, on `full`, its guards let the event
   * through. The subscriber's user (for scope checks) is the one the tier resolves for this event, read now, and
   * again when the session ends (the session tracker) or the page subscribes again.
   */
  private async subscribeLive(client: EventClient, token: string, subscribe: HandlerDefinition, event: RoutedEvent): Promise<void> {
    // Before the request is read: a session end while the tier and guards run makes its user stale (see start).
    const readAt = this.liveLists.mark();
    let outcome: BridgeOutcome;
    try {
      outcome = await this.bridge.run(subscribe, event.routerData, client);
    } catch (error) {
      // The tier's middleware refused it (a role check answering 403): as for the guards' refusal below, the
      // subscription an earlier live_subscribe started must not go on showing the rows its client is refused.
      this.liveLists.refuse(client, subscribe.state, readAt);
      throw error;
    }
    if (outcome.redirect) {
      // A middleware answered with a redirect (to the login page): the client navigates, as for any event, nothing is
      // subscribed, and a subscription the connection had to the state stops, as for a refusal.
      this.liveLists.refuse(client, subscribe.state, readAt);
      client.emitUpdate({ events: [outcome.redirect] });
      return;
    }
    const user = outcome.request?.user;
    try {
      // The state's Nest guards (and an app's own live_subscribe handler's), where the tier runs guards: rows of a
      // guarded state reach only clients its guards let through, as its other handlers' results do.
      await this.bridge.checkGuards(outcome, subscribe);
    } catch (error) {
      // Refused now: a subscription they let in before (a role since taken away) must not go on showing the rows its
      // client is refused; it applied every later change while the client was told `forbidden`.
      this.liveLists.refuse(client, subscribe.state, readAt);
      throw error;
    } finally {
      await this.bridge.finish(outcome, client);
      if (outcome.handoffRefusal) this.sendError(client, outcome.handoffRefusal);
    }
    const definition = subscribe.state;
    // Where guards decided (full), the tier decides again for the connection's next user (a session end), on the page
    // this event subscribed from (see changeUser): the middleware too, as a redirect to the login page may be all
    // that keeps a members page's rows from anonymous users.
    const guards = outcome.tier === 'full' && outcome.request ? () => this.bridge.checkTierAgain(subscribe, event.routerData, client) : undefined;
    this.liveLists.start(client, definition, user, outcome.request !== undefined, (change, frames) => this.applyLive(client, token, definition, change, frames), readAt, guards);
  }

  /**
   * The `live_subscribe` handler of a state that declares none: one per state, made once (the tier and enhancer
   * caches keep one entry per handler, so a definition per event would grow them with every subscription).
   */
  private liveSubscribeOf(state: StateDefinition): HandlerDefinition {
    let subscribe = this.liveSubscribes.get(state);
    if (!subscribe) {
      subscribe = { fullName: `${state.fullName}.${LIVE_SUBSCRIBE}`, method: LIVE_SUBSCRIBE, state, options: {}, params: [], paramTypes: [], streaming: false, upload: undefined };
      this.liveSubscribes.set(state, subscribe);
      // The state class's @Throttle limits it, as they do the state's other events.
      this.rateLimiter.addHandler(subscribe);
    }
    return subscribe;
  }

  /**
   * One live change to one subscriber's state: {@link modify}'s steps (the token's queue, its lease, commit, the
   * delta to the client), synchronous when none of them must wait (the in-memory store, nothing queued for the
   * token), and the delta written as the frame it shares with the subscribers whose delta is the same. Rejects
   * (or throws) with what failed; nothing is sent then.
   */
  private applyLive(client: EventClient, token: string, definition: StateDefinition, change: (state: Record<string, unknown>) => MaybePromise<void>, frames: LiveFramePool): MaybePromise<void> {
    let failure: { error: unknown } | undefined;
    const ran = this.queue.run(token, () =>
      // Not once the shutdown began: the change's `liveRow` / `liveReload` read the app's providers, which the app may
      // have closed by the time it runs (the drain ends before their `onModuleDestroy`, the sockets close after it),
      // and the tab, reconnecting elsewhere, loads its list again anyway.
      this.stopping ? undefined : tryCatch(
        () =>
          this.withLease(token, (lease, tree) => {
            if (lease.state === null) throw new UnknownClientTokenError('unknown');
            const view = new StateView(definition, tree.state[definition.fullName]);
            const failures: ComputedVarFailure[] = [];
            return then(change(view.target), () =>
              then(this.commit(lease, tree, view, failures), (delta) => {
                // A delta missing a computed var that threw is this subscriber's own: not shared with the others.
                if (delta) {
                  const shared = client.emitShared && failures.length === 0 ? frames.share(delta) : undefined;
                  if (shared) client.emitShared!(shared);
                  else client.emitUpdate({ delta });
                }
                this.reportComputed(client, undefined, failures);
              }),
            );
          }),
        (error) => void (failure = { error }),
      ),
    );
    return then(ran, () => {
      if (failure) throw failure.error;
    });
  }

  private enqueueServerEvent(client: EventClient, token: string, followUp: ServerEvent, origin: RoutedEvent): Promise<void> {
    const name =
      typeof followUp.target === 'string'
        ? followUp.target
        : `${this.registry.definitionOf(followUp.target.state).fullName}.${followUp.target.method}`;
    // Follow-ups inherit the originating event's router data, and run after everything already queued
    // (never inside the event that produced them, even when that one ran synchronously).
    const event: RoutedEvent = { name, payload: followUp.payload, routerData: origin.routerData, ...(origin.pageless ? { pageless: true as const } : {}) };
    return this.queue.enqueue(token, () => this.process(client, token, event, false));
  }

  /** Refuses a state tree of `size` bytes over `maxStateBytes`: the event's changes are dropped, the stored state stays as it was. */
  private refuseOver(size: number): void {
    if (size > this.options.maxStateBytes) {
      throw new BridgeError('state_too_large', `This change would make the client's state about ${size} bytes, over the ${this.options.maxStateBytes}-byte limit; it was not applied.`);
    }
  }

  /** Writes the view's changes into a new tree (copy on write), saves it and returns the wire delta. */
  private commit(lease: StateLease, tree: StateTree, view: StateView, failures: ComputedVarFailure[]): MaybePromise<Delta | undefined> {
    const changes = this.stage(tree, view);
    if (!changes) return undefined;
    const committed = tree.state[view.definition.fullName]!;
    const saved = lease.save(tree.state, sizedSave(tree));
    if (isPromise(saved)) return saved.then(() => this.committedDelta(view, committed, changes, failures));
    return this.committedDelta(view, committed, changes, failures);
  }

  /**
   * Writes the view's changes into a new tree (copy on write) and returns them, or `undefined` when it changed
   * nothing. Refuses a change that would take the tree over `maxStateBytes` (nothing is written then).
   */
  private stage(tree: StateTree, view: StateView): Record<string, unknown> | undefined {
    let changes = view.changes();
    if (!hasKeys(changes)) return undefined;
    // NaN or undefined set as a whole var: saved and sent as null, as JSON (the Redis store, the client) has it.
    if (hasNonJsonPrimitive(changes)) changes = jsonForm(changes);
    const fullName = view.definition.fullName;
    const stored = tree.state[fullName];
    // A state the tree lacked comes in whole, its defaults with it (a large initial list, say): measured however
    // small the change that brought it, or neither maxStateBytes nor the store's budget would count it.
    if (stored === undefined || this.stateSize.mayGrow(changes)) return this.stageMeasured(tree, view, stored, changes);
    tree.state = nextTree(tree.state, fullName, stored, changes);
    return changes;
  }

  /** {@link stage} for a change that may grow the tree: measured, and refused over `maxStateBytes`. */
  private stageMeasured(tree: StateTree, view: StateView, stored: Record<string, unknown> | undefined, changes: Record<string, unknown>): Record<string, unknown> {
    const fullName = view.definition.fullName;
    // A var the stored state lacks (a new client, a var added since) reads as its initial value.
    const base = stored ?? view.allVars();
    // The tree's size before the event, when known, spares walking the states the event did not touch.
    const before = knownSize(tree);
    this.stateSize.takeNonPlain();
    let state = nextTree(tree.state, fullName, base, changes);
    let size = this.sizeOf(state, before, fullName, stored, changes);
    // A Date, a DTO: saved as JSON makes them, as the Redis store saves them, so the next event's handler finds the
    // same value (an ISO string, plain fields) whichever store runs, and the delta is what was saved. New objects,
    // not the measured ones changed in place: the meter remembers sizes by identity.
    if (this.stateSize.takeNonPlain()) {
      changes = jsonForm(changes);
      state = nextTree(tree.state, fullName, base, changes);
      size = this.sizeOf(state, before, fullName, stored, changes);
    }
    this.refuseOver(size);
    tree.measured = state;
    tree.bytes = size;
    tree.state = state;
    return changes;
  }

  /** The size of `state`, the tree with `fullName`'s state replaced; from `before`, the old tree's, when known. */
  private sizeOf(state: StoredState, before: number | undefined, fullName: string, stored: Record<string, unknown> | undefined, changes: Record<string, unknown>): number {
    return before === undefined ? this.stateSize.sizeAfter(state, changes) : this.stateSize.sizeReplacing(before, fullName, stored, state[fullName]!, changes);
  }

  /**
   * Once saved: `committed` is the view's new baseline; returns the wire delta (none when only backend vars changed).
   * The computed vars that threw are left out of it and added to `failures`: the change is saved already, so the
   * client gets the rest of it rather than nothing.
   */
  private committedDelta(view: StateView, committed: Record<string, unknown>, changes: Record<string, unknown>, failures: ComputedVarFailure[]): Delta | undefined {
    view.rebase(committed);
    const wire = toWireVars(changes);
    if (view.definition.computed.size > 0) Object.assign(wire, toWireVars(view.computedValues(Object.keys(changes), (name, error) => failures.push({ state: view.definition, name, error }))));
    if (!hasKeys(wire)) return undefined;
    // Not `{ [fullName]: wire }`: a computed key in a literal is a call into V8's runtime, ten times the cost.
    const delta: Delta = {};
    delta[view.definition.fullName] = wire;
    return delta;
  }

  private collectEvents(produced: unknown, followUps: ServerEvent[]): ClientEvent[] {
    const items = Array.isArray(produced) ? produced : produced === undefined || produced === null ? [] : [produced];
    const clientEvents: ClientEvent[] = [];
    for (const item of items) {
      if (isServerEvent(item)) followUps.push(item);
      else if (isClientEvent(item)) clientEvents.push(item);
    }
    return clientEvents;
  }

  /**
   * Reflex's implicit rehydrate, for an event on a state that has never seen a page (a new or expired token, or
   * one a restarted in-memory server forgot): the client first gets the whole state, as `hydrate` sends it, with
   * the page's `router` var; then, when `loadPage` is set, the page's on-load handlers are queued after the event,
   * as `on_load_internal` queues them. Without it the browser would go on showing vars the server no longer has.
   */
  private rehydrate(client: EventClient, token: string, lease: StateLease, tree: { state: StoredState }, event: RoutedEvent, loadPage: boolean): MaybePromise<void> {
    const page = loadPage ? this.pageOf(event) : undefined;
    if (page) client.pageLoadedAt = Date.now();
    // A page without on-load handlers is loaded at once, as `on_load_internal` would load it.
    const loaded = page !== undefined && page.match === undefined;
    const root = { ...tree.state[ROOT_STATE_NAME], is_hydrated: loaded, router: buildRouterVar(page?.routed.routerData ?? event.routerData, this.withheldHeaders) };
    const state = { ...tree.state, [ROOT_STATE_NAME]: root };
    // The router var holds what the client sent of its page: it counts against the limit like any var.
    const stateSize = this.stateSize.sizeOf(state);
    this.refuseOver(stateSize);
    tree.state = state;
    return then(lease.save(tree.state, { provisional: isProvisional(tree.state), stateSize }), () => {
      const failures: ComputedVarFailure[] = [];
      const whole = this.wholeTree(tree.state, failures);
      // The whole state goes out as hydrate sends it, `is_hydrated: false`: state.js writes the client storage vars
      // of any other delta to the browser, and these hold their initial values, not the browser's. Then the page is
      // reported loaded, as `on_load_internal` reports it.
      if (loaded) whole[ROOT_STATE_NAME] = { ...whole[ROOT_STATE_NAME], [varKey('is_hydrated')]: false };
      client.emitUpdate({ delta: whole });
      if (loaded) client.emitUpdate({ delta: { [ROOT_STATE_NAME]: { [varKey('is_hydrated')]: true } } });
      this.reportComputed(client, event.name, failures);
      if (page?.match) this.queuePageLoad(client, token, page.match, page.routed);
    });
  }

  /** Every state's vars and computed vars, as `hydrate` sends them. */
  private wholeTree(state: StoredState, failures: ComputedVarFailure[]): Delta {
    const delta: Delta = { [ROOT_STATE_NAME]: toWireVars(state[ROOT_STATE_NAME] ?? {}) };
    for (const definition of this.registry.states()) delta[definition.fullName] = this.wholeState(definition, state, failures);
    return delta;
  }

  private async hydrate(client: EventClient, token: string, event: RoutedEvent): Promise<void> {
    await this.withClientLease(client, token, async (lease, tree) => {
      // Client storage vars start from their initial values: the client sends what the browser holds next.
      tree.state = this.clientStorage.reset(tree.state);
      const root = { ...tree.state[ROOT_STATE_NAME], is_hydrated: false, router: buildRouterVar(event.routerData, this.withheldHeaders) };
      tree.state = { ...tree.state, [ROOT_STATE_NAME]: root };
      const stateSize = this.stateSize.sizeOf(tree.state);
      this.refuseOver(stateSize);
      await lease.save(tree.state, { provisional: isProvisional(tree.state), stateSize });
      // A computed var that throws on this client's values is left out, not the whole hydrate: the page loads.
      const failures: ComputedVarFailure[] = [];
      client.emitUpdate({ delta: this.wholeTree(tree.state, failures) });
      this.reportComputed(client, event.name, failures);
    });
  }

  private wholeState(definition: StateDefinition, state: StoredState, failures: ComputedVarFailure[]): Record<string, unknown> {
    const view = new StateView(definition, state[definition.fullName]);
    const computed = view.computedValues(undefined, (name, error) => failures.push({ state: definition, name, error }));
    return { ...toWireVars(view.allVars()), ...toWireVars(computed) };
  }

  /**
   * Reflex's `on_load_internal`: the page's on-load handlers (the `@OnLoad` routes matching `router_data.pathname`)
   * are queued as server events, each run like any event, then `set_is_hydrated(true)`. Without any, the state is
   * hydrated at once. The root `router` var follows the page, with the route's arguments in `page.params`.
   */
  private async onLoadInternal(client: EventClient, token: string, event: RoutedEvent): Promise<void> {
    // Before the page's handlers load anything: a live list subscribed after replays the changes since (see
    // LiveListSubscriptions.start).
    client.pageLoadedAt = Date.now();
    const { match, routed } = this.pageOf(event);
    const router = buildRouterVar(routed.routerData, this.withheldHeaders);
    const hydrated = match === undefined;
    await this.withClientLease(client, token, async (lease, tree) => {
      if (!hasSeenAPage(tree.state)) await this.rehydrate(client, token, lease, tree, event, false);
      const root = tree.state[ROOT_STATE_NAME] ?? {};
      const routerChanged = JSON.stringify(root['router']) !== JSON.stringify(router);
      if (root['is_hydrated'] !== hydrated || routerChanged) {
        const state = { ...tree.state, [ROOT_STATE_NAME]: { ...root, is_hydrated: hydrated, router } };
        // Measured when the router var changed (what the client sent of its page counts like any var); a flag
        // alone leaves the size the store counted as it was.
        const stateSize = routerChanged ? this.stateSize.sizeOf(state) : undefined;
        if (stateSize !== undefined) this.refuseOver(stateSize);
        tree.state = state;
        await lease.save(tree.state, { provisional: isProvisional(tree.state), stateSize });
      }
      // Always sent, as Reflex marks it changed whatever it was: a client that navigated set it false itself, and
      // waits for `true` to run what it held back.
      const delta: Record<string, unknown> = { [varKey('is_hydrated')]: hydrated };
      if (routerChanged) delta[varKey('router')] = router;
      client.emitUpdate({ delta: { [ROOT_STATE_NAME]: delta } });
    });
    if (match) this.queuePageLoad(client, token, match, routed);
    // A page without handlers is loaded already: an earlier page's handlers still queued are not for it.
    else this.pageLoads.delete(token);
  }

  /** The on-load route matching the event's page, and the event with that route's arguments in its query. */
  private pageOf(event: RoutedEvent): { match: OnLoadMatch | undefined; routed: RoutedEvent } {
    const match = this.onLoad.match(event.routerData.pathname);
    if (!match) return { match, routed: event };
    const query = Object.assign(Object.create(null) as Record<string, unknown>, event.routerData.query, match.params);
    return { match, routed: { ...event, routerData: { ...event.routerData, query } } };
  }

  /**
   * Queues the page's on-load handlers, then `set_is_hydrated(true)`, each run like any server event, unless the
   * client has moved to another page meanwhile: a tab that navigates again before its first page's `on_load_internal`
   * ran has both queued, and the first page's handlers would run after the second page's `on_load_internal`, with
   * the first page's route arguments, and mark the second page hydrated before its own handlers ran. They are
   * skipped once a later page load of the token was queued.
   */
  private queuePageLoad(client: EventClient, token: string, match: OnLoadMatch, routed: RoutedEvent): void {
    const load = ++this.pageLoadCount;
    this.pageLoads.set(token, load);
    for (const handler of match.handlers) {
      const event: RoutedEvent = { name: handler.fullName, payload: {}, routerData: routed.routerData };
      void this.queue.enqueue(token, () => (this.pageLoads.get(token) === load ? this.process(client, token, event, false) : undefined));
    }
    const hydrated: RoutedEvent = { name: SET_IS_HYDRATED, payload: { value: true }, routerData: routed.routerData };
    void this.queue.enqueue(token, () => {
      if (this.pageLoads.get(token) !== load) return;
      this.pageLoads.delete(token);
      return this.process(client, token, hydrated, false);
    });
  }

  /** Reflex's `update_vars_internal`: the browser's values of the declared client storage vars, checked, then applied. */
  private async updateVars(client: EventClient, token: string, event: RoutedEvent): Promise<void> {
    const update = this.clientStorage.parse(event.payload);
    if (update.size === 0) return;
    await this.withClientLease(client, token, async (lease, tree) => {
      // No page load here: state.js sends `on_load_internal` right after this event, and it loads the page.
      if (!hasSeenAPage(tree.state)) await this.rehydrate(client, token, lease, tree, event, false);
      const delta: Delta = {};
      const failures: ComputedVarFailure[] = [];
      for (const [definition, values] of update) {
        const view = new StateView(definition, tree.state[definition.fullName]);
        for (const name in values) view.write(name, values[name]);
        const part = await this.commit(lease, tree, view, failures);
        if (part) Object.assign(delta, part);
      }
      if (Object.keys(delta).length > 0) client.emitUpdate({ delta });
      this.reportComputed(client, event.name, failures);
    });
  }

  private async setHydrated(client: EventClient, token: string, event: RoutedEvent): Promise<void> {
    const value = event.name === SET_IS_HYDRATED ? event.payload.value !== false : true;
    await this.withClientLease(client, token, async (lease, tree) => {
      tree.state = { ...tree.state, [ROOT_STATE_NAME]: { ...tree.state[ROOT_STATE_NAME], is_hydrated: value } };
      await lease.save(tree.state, { provisional: isProvisional(tree.state) });
    });
    client.emitUpdate({ delta: { [ROOT_STATE_NAME]: { [varKey('is_hydrated')]: value } } });
  }

  /**
   * Runs `work` under the token's lease and always releases it. The lease is taken synchronously when the
   * store can grant it at once (the in-memory store, lock free), else awaited.
   */
  private withLease(token: string, work: (lease: StateLease, tree: StateTree) => MaybePromise<void>): MaybePromise<void> {
    return this.withClientLease(undefined, token, work);
  }

  /** {@link withLease} for an event of `client`, whose new state counts against its address (see {@link leaseFor}). */
  private withClientLease(client: EventClient | undefined, token: string, work: (lease: StateLease, tree: StateTree) => MaybePromise<void>): MaybePromise<void> {
    const lease = this.store.tryAcquireSync?.(token);
    if (lease) return this.underLease(this.leaseFor(lease, client), work);
    return this.acquireLease(token).then((acquired) => this.underLease(this.leaseFor(acquired, client), work));
  }

  /**
   * The lease an event of `client` works on: the store's own for a state that holds the full TTL already (the steady
   * case) and with `rateLimit.newStates` and `rateLimit.newTabs` off; else one whose first save of a changed state
   * counts against the client address's budget of new states, and whose first save of a token with no state against
   * its budget of new tabs (see {@link NewStateLease}). A change no client made (the app's `modify`, a live list's
   * row) counts nothing and keeps such a state short: only its tab's own events ask for the full TTL, so live changes
   * a client can set off (a like broadcast to a thousand tabs it opened) give none of them an hour.
   */
  private leaseFor(lease: StateLease, client: EventClient | undefined): StateLease {
    if (!this.countsNewStatesOrTabs || holdsFullTtl(lease.state)) return lease;
    if (client === undefined) return new NewStateLease(lease, KEEP_SHORT);
    const ip = (): string => client.routerIp ?? this.bridge.clientIp(client);
    return new NewStateLease(lease, () => this.rateLimiter.admitNewState(ip()), lease.state === null ? () => this.rateLimiter.admitNewTab(ip()) : undefined);
  }

  private async acquireLease(token: string): Promise<StateLease> {
    try {
      const lease = await this.store.acquire(token);
      this.storeOutage.succeeded();
      return lease;
    } catch (error) {
      if (error instanceof StateStoreError && error.code === 'closed') throw STORE_CLOSED;
      this.storeOutage.failed(error);
      throw new BridgeError('state_unavailable', 'The state store is unavailable; nothing was changed. Try again.');
    }
  }

  /**
   * Runs `work` on the lease, then releases it whatever happened; a failure of the store (see {@link storeFailure})
   * becomes the client's structured error. Written out rather than with `tryFinally`: it runs for every event.
   */
  private underLease(lease: StateLease, work: (lease: StateLease, tree: StateTree) => MaybePromise<void>): MaybePromise<void> {
    let result: MaybePromise<void>;
    try {
      result = work(lease, treeOf(lease));
    } catch (error) {
      return this.releaseAndThrow(lease, this.storeFailure(error));
    }
    if (isPromise(result)) {
      return result.then(
        () => this.releaseAfterSuccess(lease),
        (error: unknown) => this.releaseAndThrow(lease, this.storeFailure(error)),
      );
    }
    return this.releaseAfterSuccess(lease);
  }

  /** The work under the lease succeeded (its saves were answered): an outage of saves is over. */
  private releaseAfterSuccess(lease: StateLease): MaybePromise<void> {
    this.leaseOutage.succeeded();
    return this.release(lease);
  }

  /**
   * What an event's failure under the lease is reported as: a save that failed (Redis gone mid-event) or was
   * refused (lock expired) is the store's failure, not the handler's; anything else is the error itself.
   */
  private storeFailure(error: unknown): unknown {
    // Logged once per outage (see leaseOutage): while Redis is down or frozen, every event of every tab fails here.
    if (error instanceof StateStoreError && error.code === 'outcome_unknown') {
      if (!error.logged) this.leaseOutage.failed(error);
      return new BridgeError('state_outcome_unknown', 'The state store lost its answer: the change may have been saved. Reload before trying again.');
    }
    if (error instanceof StateStoreError || error instanceof LockLostError) {
      this.leaseOutage.failed(error);
      return new BridgeError('state_unavailable', 'The state store is unavailable; this event\'s change was not saved. Try again.');
    }
    return error;
  }

  /**
   * Releases the lease and throws `error` without waiting for the release: a store that failed the event (a save
   * with no answer from a frozen Redis) rarely answers the release sooner, and the client waited for both (the
   * first event of a busy tab during a freeze: 5 s for its save, 5 s more for the release). A release that fails is
   * logged by {@link release}; the token's next event asks the store for the lock anyway.
   */
  private releaseAndThrow(lease: StateLease, error: unknown): never {
    void this.release(lease);
    throw error;
  }

  /** Releases a lease. A failure is logged, never thrown: the event's own outcome stands. */
  private release(lease: StateLease): MaybePromise<void> {
    let released: MaybePromise<void>;
    try {
      released = lease.release();
    } catch (error) {
      this.logReleaseFailure(error);
      return;
    }
    if (!isPromise(released)) {
      this.releaseOutage.succeeded();
      return;
    }
    return released.then(this.onReleased, this.onReleaseFailed);
  }

  /** The two ends of an asynchronous release, made once rather than per event. */
  private readonly onReleased = (): void => this.releaseOutage.succeeded();
  private readonly onReleaseFailed = (error: unknown): void => this.logReleaseFailure(error);

  private logReleaseFailure(error: unknown): void {
    this.releaseOutage.failed(error);
  }

  /** The client's `router_data` plus the server's additions: token, socket id, headers and client IP. */
  private routerDataFor(client: EventClient, token: string, event: InboundEvent): RouterData {
    const sent = event.routerData.query;
    // Reflex normalises query keys (`-` → `_`): check the names after normalising (`-_proto__` is `__proto__`),
    // and keep them in an object without a prototype to reach.
    const query: Record<string, unknown> = Object.create(null);
    if (sent) {
      for (const key in sent) {
        // An optional route argument the URL lacks (state.js writes React Router's undefined as null): absent, as
        // the route match and `@RouteParam` see it.
        if (sent[key] === null) continue;
        const name = key.includes('-') ? key.replace(/-/g, '_') : key;
        if (isForbiddenKey(name)) throw new BridgeError('invalid_payload', `The event carries a forbidden query key: ${name}.`);
        query[name] = sent[key];
      }
    }
    const clientData = event.routerData;
    // One object literal (every router data gets the same shape) rather than a copy of what the client sent:
    // copying costs several times more, and the client's own fields must be overwritten anyway.
    const data: RouterData = {
      pathname: clientData.pathname,
      asPath: clientData.asPath,
      query,
      token,
      sid: client.sid,
      headers: this.connectionHeadersOf(client),
      ip: client.routerIp!,
    };
    // Whatever else the client sent stays readable (Reflex's frontend sends only pathname, query and asPath).
    for (const key in clientData) if (!isRouterDataKey(key)) data[key] = clientData[key];
    return data;
  }

  /**
   * The headers router data carries, worked out once per connection (they cannot change while it lives), with the
   * client IP beside it on the client (see {@link EventClient.routerHeaders}).
   */
  private connectionHeadersOf(client: EventClient): Readonly<Record<string, string>> {
    let headers = client.routerHeaders;
    if (!headers) {
      // Copied key by key into a fresh object before freezing: clients sending the same header names then share
      // one hidden class. A frozen spread of the handshake's headers got a hidden class of its own per connection
      // (about 350 bytes more for every connected client).
      const copy = plainRecord<string>();
      for (const name in client.headers) if (name !== '__proto__') copy[name] = client.headers[name]!;
      copy['asgi-scope-client'] = client.remoteAddress;
      headers = Object.freeze(copy);
      client.routerIp = this.bridge.clientIp(client);
      client.routerHeaders = headers;
    }
    return headers;
  }

  /**
   * Tells `client` its event was refused or failed: a {@link BridgeError} as it is, anything else as a
   * `handler_error` (logged with its stack, within {@link HANDLER_ERROR_LOG_LIMITS}; the client gets a generic text in
   * production, never the stack).
   * `present: false` sends the structured error alone, without what the error presenter would show.
   */
  reportError(client: EventClient, error: unknown, eventName?: string, present = true): void {
    if (error instanceof BridgeError) {
      this.sendError(client, error.toPayload(eventName), present);
      return;
    }
    const thrown = this.logHandlerError(error, eventName);
    const message = this.options.production ? 'An error occurred while handling the event.' : thrown.summary;
    this.sendError(client, { code: 'handler_error', message, ...(eventName ? { event: eventName } : {}) });
  }

  /**
   * Logs a handler's failure (not a {@link BridgeError}) with its stack, escaped, within {@link HANDLER_ERROR_LOG_LIMITS}
   * (an upload whose tab is gone has nobody to tell, but is logged the same). Returns its texts.
   */
  logHandlerError(error: unknown, eventName?: string): ThrownText {
    const thrown = thrownText(error, MAX_ERROR_MESSAGE_CHARS, MAX_ERROR_LOG_CHARS);
    const verdict = this.handlerErrors.take(`${eventName ?? ''}\0${thrown.summary}`);
    if (verdict.log) {
      const notLogged = verdict.notLoggedBefore > 0 ? ` (${verdict.notLoggedBefore} failed events before this one were counted, not logged: repeats of a logged error, or past ${HANDLER_ERROR_LOG_LIMITS.perWindow} lines a minute)` : '';
      this.logger.error(`Event ${eventName ?? '(unparsed)'} failed: ${thrown.detail}${notLogged}`);
    }
    return thrown;
  }

  /**
   * Reports the computed vars that threw while a delta was made (after that delta went out without them): each as a
   * `handler_error` to `client` (when there is one) naming the var, and logged within the same limits as handler
   * errors, so a getter that throws for one client's values neither floods the log nor touches other clients.
   */
  private reportComputed(client: EventClient | undefined, eventName: string | undefined, failures: readonly ComputedVarFailure[]): void {
    for (const { state, name, error } of failures) {
      const thrown = thrownText(error, MAX_ERROR_MESSAGE_CHARS, MAX_ERROR_LOG_CHARS);
      const where = `${state.cls.name}.${name}`;
      const verdict = this.handlerErrors.take(`computed\0${where}\0${thrown.summary}`);
      if (verdict.log) {
        const notLogged = verdict.notLoggedBefore > 0 ? ` (${verdict.notLoggedBefore} failed events before this one were counted, not logged: repeats of a logged error, or past ${HANDLER_ERROR_LOG_LIMITS.perWindow} lines a minute)` : '';
        this.logger.error(`Computed var ${where} failed${eventName ? ` after event ${eventName}` : ''}; the client got the rest of the delta without it: ${thrown.detail}${notLogged}`);
      }
      if (!client) continue;
      const message = this.options.production ? 'An error occurred while computing a value for the page.' : `Computed var ${where} failed: ${thrown.summary}`;
      this.sendError(client, { code: 'handler_error', message, ...(eventName ? { event: eventName } : {}) });
    }
  }

  /**
   * `server_stopping` for a client event not run because the server is shutting down, with its payload: the event is
   * safe to send again, and the client has nothing else to tell which of its events this was (events carry no id, and
   * several may share a name), so `@reflex-bridge/client` sends it again, as it was, once reconnected (to another
   * worker, or to this one restarted). Only on this refusal, which only a draining server sends: no cost on the event
   * path, and no more bytes out than the client sent in. The error presenter is shown the refusal without it.
   */
  private refuseStopping(client: EventClient, routed: RoutedEvent): void {
    const error = SERVER_STOPPING.toPayload(routed.name);
    client.emitError({ ...error, payload: routed.payload });
    if (!refusalNoticeDue(client, true)) return;
    const events = this.presented(error);
    if (events.length > 0) client.emitUpdate({ events });
  }

  /**
   * The structured error as a `bridge_error` message (`@reflex-bridge/client` and other clients that listen to
   * it; Reflex's client has no listener and ignores it), then what {@link BridgeErrorPresenter} chose to show as
   * an `event` message Reflex's client runs, each event carrying the structured error in `payload.bridge_error`.
   * `present: false` (a flood's refusal past its first) is still shown when nothing was shown to the client for
   * `REFUSAL_NOTICE_EVERY_MS` (4 s): Reflex's client sees nothing but what is presented, so a click refused once the
   * first toast faded would otherwise silently do nothing.
   */
  private sendError(client: EventClient, error: BridgeErrorPayload, present = true): void {
    client.emitError(error);
    if (!refusalNoticeDue(client, present)) return;
    const events = this.presented(error);
    if (events.length > 0) client.emitUpdate({ events });
  }

  /**
   * {@link sendError} for `busy`, the refusal a flood gets for every frame over its queue's limits: the same
   * messages, made and encoded once per event name (see {@link BusyAnswers}). Presented only when `present`
   * (the first refusal since the queue was last below half its limits), or when nothing was shown to the client for
   * `REFUSAL_NOTICE_EVERY_MS` (4 s) (see {@link sendError}): one read of a flood brings hundreds of
   * refused frames, and the user needs to be told once, not hundreds of times, while every other client waits
   * for those messages to be written.
   */
  private refuseBusy(client: EventClient, eventName: string, present: boolean): void {
    if (!client.emitShared) {
      this.sendError(client, this.busy.toPayload(eventName), present);
      return;
    }
    const answer = this.busyAnswers.answerTo(eventName);
    client.emitShared(answer.error);
    if (answer.presented && refusalNoticeDue(client, present)) client.emitShared(answer.presented);
  }

  /** What the error presenter shows for `error`, ready to send (nothing when the presenter failed: logged). */
  private presented(error: BridgeErrorPayload): ClientEvent[] {
    try {
      return presentedError(this.errorPresenter.present(error), error);
    } catch (failure) {
      this.logger.error(`The error presenter failed: ${(failure as Error)?.stack ?? String(failure)}`);
      return [];
    }
  }
}
