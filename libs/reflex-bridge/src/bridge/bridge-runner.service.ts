import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, type CanActivate } from '@nestjs/common';
import type { RouterData } from '../protocol/inbound-event.js';
import { BridgeError } from '../protocol/bridge-error.js';
import type { HandlerDefinition } from '../state/state-definition.js';
import type { PendingArguments } from '../state/handler-arguments.js';
import type { StateView } from '../state/state-view.js';
import type { EventClient } from '../common/event-client.js';
import { isPromise, type MaybePromise } from '../common/maybe-promise.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import type { EventTimer } from '../metrics/event-timer.js';
import { AppState } from './session/app-state.js';
import { syncAppState } from './session/app-state-sync.js';
import type { BridgeOutcome } from './bridge-outcome.js';
import { errorForRefusal } from './bridge-error-mapping.js';
import { BridgeTierGuard } from './tiers/bridge-tier.guard.js';
import { runGuards } from './tiers/guard-runner.js';
import { RequestBuilder } from './request/request-builder.service.js';
import { SessionHandoff } from './session/session-handoff.service.js';
import { SnapshotWriter } from './session/snapshot-writer.service.js';
import type { SyntheticRequest } from './request/synthetic-request.js';
import { SyntheticResponse } from './request/synthetic-response.js';
import { TierExecutionContext } from './tiers/tier-execution-context.js';
import { UserEnhancers } from './user-enhancers.service.js';

export type { BridgeOutcome } from './bridge-outcome.js';

/**
 * The bridge tiers as the event pipeline sees them, one call per step of an event: `run` (the tier guards on
 * the event's context), `invoke` (the app's enhancers and pipes on `full`), `afterStep` (AppState's
 * snapshot vars), `finish` (session save, fast-auth snapshot, cookie handoff). Each step's logic lives in its
 * own file in bridge/; this class only puts them in order.
 */
@Injectable()
export class BridgeRunner {
  /** The guards every event passes, in order. */
  private readonly guards: readonly CanActivate[];
  private readonly afterEnd: (outcome: BridgeOutcome) => MaybePromise<void>;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly requests: RequestBuilder,
    tierGuard: BridgeTierGuard,
    private readonly enhancers: UserEnhancers,
    private readonly snapshots: SnapshotWriter,
    private readonly session: SessionHandoff,
  ) {
    this.guards = [tierGuard];
    this.afterEnd = (outcome) => snapshots.afterEnd(outcome);
  }

  /**
   * At startup: warns about handlers whose Nest enhancers their tier will not apply, and looks up every handler's
   * pipes (so no event waits for that lookup).
   */
  prepareEnhancers(handlers: readonly HandlerDefinition[]): Promise<void> {
    this.enhancers.audit(handlers);
    return this.enhancers.preparePipes(handlers);
  }

  /**
   * Runs the event's tier through the tier guards: nothing on `none`; on `auth_only` the fast-auth path or the
   * session and auth middleware; on `full` all middleware. Synchronous when every guard answered
   * synchronously. A middleware's redirect is in the outcome; a refusal throws the structured error.
   */
  run(handler: HandlerDefinition, routerData: RouterData, client: EventClient, timer?: EventTimer): MaybePromise<BridgeOutcome> {
    const event = new TierExecutionContext(handler, client, routerData, timer, this.requests);
    this.snapshots.begin(event);
    this.session.begin(event);
    const allowed = runGuards(this.guards, event);
    if (allowed === true) return this.allowed(event);
    if (allowed === false) return this.refused(event);
    return allowed.then((ok) => (ok ? this.allowed(event) : this.refused(event)));
  }

  /**
   * Runs the tier of an HTTP request that calls `handler` (an upload) on that request itself: its middleware
   * (session, auth) sees the request's real cookies and headers and may answer on the real response, and on
   * `full` the handler's Nest guards run now, before the caller reads the body (the handler call later skips
   * them). Resolves to the outcome (a middleware's redirect, already answered on `response`, in `redirect`);
   * a refusal rejects with the structured error. Fast auth does not apply: it is for synthetic requests.
   * `timer` times the upload as an event (metrics, devtools), as {@link run}'s does.
   */
  async runOnRequest(handler: HandlerDefinition, routerData: RouterData, client: EventClient, request: IncomingMessage, response: ServerResponse, timer?: EventTimer): Promise<BridgeOutcome> {
    const event = new TierExecutionContext(handler, client, routerData, timer, this.requests);
    event.request = request as unknown as SyntheticRequest;
    event.response = response as unknown as SyntheticResponse;
    event.cookieHeader = request.headers.cookie ?? '';
    this.snapshots.begin(event);
    this.session.begin(event);
    const allowed = await runGuards(this.guards, event);
    // After the tier's middleware: the session middleware wrapped the response's end by now, and this runs before it.
    if (allowed) this.session.keepEndedSessionUnsaved(event, response);
    const outcome = allowed ? this.allowed(event) : this.refused(event);
    if (outcome.tier !== 'full' || outcome.redirect) return outcome;
    await this.enhancers.checkGuards(handler, event.request, event.response);
    event.guardsChecked = true;
    return event;
  }

  /**
   * Runs the Nest guards of `handler` (its state class's and its own) on an event's request where its tier runs
   * guards (`full`), without calling the handler: for events the module answers itself on the handler's behalf
   * (`live_subscribe`). A refusal rejects with the structured error; other tiers resolve at once.
   */
  async checkGuards(outcome: BridgeOutcome, handler: HandlerDefinition): Promise<void> {
    if (outcome.tier !== 'full' || !outcome.request || !outcome.response || outcome.redirect) return;
    await this.enhancers.checkGuards(handler, outcome.request, outcome.response);
  }

  /**
   * Runs `handler`'s tier again for `client` as it is now (its current cookies), on the page `routerData` names,
   * outside any event: its middleware and, on `full`, its Nest guards, without calling the handler or saving the
   * session. For a `full`-tier live subscription after its connection's session ended: what let its `live_subscribe`
   * through must let the connection's new user through. The `full` tier's own middleware is part of that: an app's
   * redirect-to-login middleware may be all that keeps a members page's rows from anonymous users. Resolves when
   * they let it through; rejects when a middleware answers (a redirect included) or a guard refuses.
   */
  async checkTierAgain(handler: HandlerDefinition, routerData: RouterData, client: EventClient): Promise<void> {
    const outcome = await this.run(handler, routerData, client);
    if (outcome.redirect) throw new BridgeError('forbidden', `${handler.fullName} redirects the connection now`);
    await this.checkGuards(outcome, handler);
  }

  private allowed(event: TierExecutionContext): BridgeOutcome {
    if (event.tier === 'none') return event;
    // A bridged event always carries its request, even when a guard let it through without reading it.
    const request = event.getRequest();
    // The session and the user right after the auth chain, to notice a logout by the end of the event.
    event.sessionIdBefore = request.sessionID;
    event.hadUser = request.user !== undefined;
    return event;
  }

  private refused(event: TierExecutionContext): BridgeOutcome {
    if (event.redirect) return event;
    throw errorForRefusal(event.response);
  }

  /**
   * Calls the handler: through the Nest enhancers on `full`, directly otherwise (returning whatever the
   * method returns, so a synchronous handler keeps the event synchronous).
   */
  invoke(outcome: BridgeOutcome, handler: HandlerDefinition, target: object, args: unknown[] | PendingArguments): unknown {
    // As callsThroughEnhancers, written out for the compiler.
    if (outcome.tier !== 'full' || !outcome.request || !outcome.response) {
      // Only an event called through its enhancers has pending arguments: here they were resolved before the lock.
      const resolved = args as unknown[];
      const method = handler.state.cls.prototype[handler.method] as (...params: unknown[]) => unknown;
      if (!outcome.timer) return method.apply(target, resolved);
      return outcome.timer.measure('handler', () => method.apply(target, resolved));
    }
    return this.enhancers.invoke(outcome, handler, outcome.request, outcome.response);
  }

  /**
   * True when {@link invoke} calls the handler through its Nest enhancers (the `full` tier, with its request): they
   * then resolve its arguments (type and DTO checks, its `@Payload(key, ...pipes)` pipes), after its guards and
   * interceptors.
   */
  callsThroughEnhancers(outcome: BridgeOutcome): boolean {
    return outcome.tier === 'full' && outcome.request !== undefined && outcome.response !== undefined;
  }

  /** Before each step is committed: refresh an `AppState`'s snapshot and mirror vars from the live request. */
  afterStep(outcome: BridgeOutcome, view: StateView): void {
    if (outcome.request && view.target instanceof AppState) syncAppState(view.target, outcome.request, this.options);
  }

  /**
   * Ends the event on bridged tiers: the session is saved, the fast-auth snapshot written or dropped, and a
   * changed session cookie handed to the browser. Nothing to do on `none`: stays synchronous.
   */
  finish(outcome: BridgeOutcome, client: EventClient): MaybePromise<void> {
    const response = outcome.response;
    if (!response) return;
    const snapshotted = this.snapshots.beforeEnd(outcome);
    if (isPromise(snapshotted)) return snapshotted.then(() => this.session.finish(outcome, response, client, this.afterEnd));
    return this.session.finish(outcome, response, client, this.afterEnd);
  }

  /** Runs the auth middleware for a socket outside any event (see {@link SessionHandoff.authenticate}). */
  authenticate(client: EventClient): Promise<SyntheticRequest | undefined> {
    return this.session.authenticate(client);
  }

  /** The cookie header a socket's events present now (its handshake's, or the last one it was moved to). */
  cookieHeaderOf(client: EventClient): string {
    return this.requests.cookieHeaderOf(client);
  }

  /** The client IP (see {@link RequestBuilder.clientIp}). */
  clientIp(client: EventClient): string {
    return this.requests.clientIp(client);
  }

}
