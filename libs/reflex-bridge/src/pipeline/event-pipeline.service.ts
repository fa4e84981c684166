import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { BridgeError } from '../protocol/bridge-error.js';
import { parseInboundEvent, type InboundEvent, type RouterData } from '../protocol/inbound-event.js';
import { isClientEvent, isServerEvent, type ClientEvent, type ServerEvent } from '../protocol/client-event.js';
import { ON_LOAD_INTERNAL_STATE, ROOT_STATE_NAME, UPDATE_VARS_INTERNAL_STATE, varKey } from '../protocol/state-naming.js';
import type { Delta } from '../protocol/state-update.js';
import { StateRegistry } from '../state/state-registry.service.js';
import { StateView, toWireVars } from '../state/state-view.js';
import type { HandlerDefinition, StateDefinition } from '../state/state-definition.js';
import { resolveHandlerArguments } from '../state/handler-arguments.js';
import { LockLostError, StateStore, type StateLease, type StoredState } from '../state/store/state-store.js';
import { StateStoreError } from '../state/store/state-store.error.js';
import { BridgeRunner, type BridgeOutcome } from '../bridge/bridge-runner.service.js';
import { EVENT_CONTEXT, runInEventContext, type EventContext } from '../bridge/event-context.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { TokenQueue } from './token-queue.js';
import type { EventClient } from './event-client.js';
import { buildRouterVar } from './router-var.js';
import { BridgeMetrics } from '../metrics/bridge-metrics.service.js';
import { LiveListSubscriptions } from '../live/live-list-subscriptions.service.js';

/** The handler every state with `@LiveList` vars answers: subscribe this connection to its lists. */
const LIVE_SUBSCRIBE = 'live_subscribe';

const HYDRATE = `${ROOT_STATE_NAME}.hydrate`;
const SET_IS_HYDRATED = `${ROOT_STATE_NAME}.set_is_hydrated`;
const ON_LOAD_INTERNAL = `${ON_LOAD_INTERNAL_STATE}.on_load_internal`;
const UPDATE_VARS_INTERNAL = `${UPDATE_VARS_INTERNAL_STATE}.update_vars_internal`;

/** An event after parsing, with the server's additions to `router_data`. */
interface RoutedEvent extends InboundEvent {
  routerData: RouterData;
}

/**
 * One event, top to bottom. Each step's logic lives in its own folder; this file only composes them:
 * 1. parse and validate the envelope (`protocol`)  2. find the handler (`state`)
 * 3. queue behind the client's earlier events      4. run the bridge tier (`bridge`)
 * 5. lock the state, run the handler on a per-event view, commit each step's delta (`state/store`)
 * 6. emit deltas, then client events; queue server follow-ups.
 */
@Injectable()
export class EventPipeline implements OnApplicationBootstrap {
  private readonly logger = new Logger('ReflexBridge');
  private readonly queue = new TokenQueue();

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly registry: StateRegistry,
    private readonly store: StateStore,
    private readonly bridge: BridgeRunner,
    private readonly metrics: BridgeMetrics,
    private readonly liveLists: LiveListSubscriptions,
  ) {}

  onApplicationBootstrap(): void {
    this.bridge.auditEnhancers(this.registry.handlerDefinitions());
  }

  /**
   * Handles one inbound `event` frame from `client`. Never throws: every problem becomes a `bridge_error`
   * for that client alone.
   */
  async handle(client: EventClient, frame: unknown): Promise<void> {
    let event: InboundEvent;
    try {
      if (!client.token) throw new BridgeError('no_token', 'This connection has no client token.');
      event = parseInboundEvent(frame);
    } catch (error) {
      this.reportError(client, error);
      return;
    }
    const token = client.token;
    const routed: RoutedEvent = { ...event, routerData: this.routerDataFor(client, token, event) };
    await this.queue.run(token, () => this.process(client, token, routed));
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
        await this.withLease(token, async (lease, tree) => {
          const view = new StateView(definition, tree.state[definition.fullName]);
          await change(view.target as T);
          const delta = await this.commit(lease, tree, view);
          if (delta && client) client.emitUpdate({ delta });
        });
      } catch (error) {
        failure = error;
      }
    });
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error(String(failure));
  }

  private async process(client: EventClient, token: string, event: RoutedEvent): Promise<void> {
    try {
      switch (event.name) {
        case HYDRATE:
          return await this.hydrate(client, token, event);
        case ON_LOAD_INTERNAL:
        case SET_IS_HYDRATED:
          return await this.setHydrated(client, token, event);
        case UPDATE_VARS_INTERNAL:
          return; // No client-storage vars yet: nothing to apply.
      }
      if (event.name.endsWith(`.${LIVE_SUBSCRIBE}`)) {
        const definition = this.registry.stateByFullName(event.name.slice(0, -LIVE_SUBSCRIBE.length - 1));
        if (definition && this.liveLists.hasLiveLists(definition)) return await this.subscribeLive(client, token, definition, event);
      }
      const handler = this.registry.findHandler(event.name);
      if (!handler) throw new BridgeError('unknown_handler', `No event handler is registered as "${event.name}".`);
      await this.runHandler(client, token, handler, event);
    } catch (error) {
      this.reportError(client, error, event.name);
    }
  }

  private async runHandler(client: EventClient, token: string, handler: HandlerDefinition, event: RoutedEvent): Promise<void> {
    const timer = this.metrics.start(handler.fullName);
    const outcome: BridgeOutcome = await this.bridge.run(handler, event.routerData, client, timer);
    if (outcome.redirect) {
      client.emitUpdate({ events: [outcome.redirect] });
      return;
    }
    const args = await this.bridge.applyPipes(outcome, handler, await resolveHandlerArguments(handler, { payload: event.payload, request: outcome.request }));
    const followUps: ServerEvent[] = [];
    await this.withLease(token, async (lease, tree) => {
      const view = new StateView(handler.state, tree.state[handler.state.fullName]);
      const context: EventContext = { tier: outcome.tier, handlerName: handler.fullName, token, request: outcome.request, target: view.target, args };
      // The view and the request carry the context (AppState's getters, the enhanced handler); the free
      // accessors (currentRequest, ...) read it through AsyncLocalStorage when `bridge.asyncContext` is on.
      Object.defineProperty(view.target, EVENT_CONTEXT, { value: context });
      if (outcome.request) Object.defineProperty(outcome.request, EVENT_CONTEXT, { value: context });
      const useAsyncContext = this.options.bridge.asyncContext;
      const step = async (produced: unknown) => {
        const commitStart = performance.now();
        this.bridge.afterStep(outcome, view);
        const delta = await this.commit(lease, tree, view);
        const emitStart = performance.now();
        timer?.add('delta', emitStart - commitStart);
        if (delta) client.emitUpdate({ delta });
        const clientEvents = this.collectEvents(produced, followUps);
        if (clientEvents.length) client.emitUpdate({ events: clientEvents });
        timer?.add('emit', performance.now() - emitStart);
      };
      try {
        const result = await runInEventContext(context, useAsyncContext, () => this.bridge.invoke(outcome, handler, view.target, args));
        if (handler.streaming && result && typeof result === 'object' && Symbol.asyncIterator in result) {
          const iterator = (result as AsyncGenerator<unknown, unknown>)[Symbol.asyncIterator]();
          for (;;) {
            const next = await runInEventContext(context, useAsyncContext, () => iterator.next());
            await step(next.value);
            if (next.done) break;
          }
        } else if (handler.streaming && result && typeof result === 'object' && Symbol.iterator in result) {
          const iterator = (result as Generator<unknown, unknown>)[Symbol.iterator]();
          for (;;) {
            const next = runInEventContext(context, useAsyncContext, () => iterator.next());
            await step(next.value);
            if (next.done) break;
          }
        } else {
          await step(result);
        }
      } finally {
        await this.bridge.finish(outcome, client);
        this.metrics.finish(timer);
      }
    });
    for (const followUp of followUps) void this.enqueueServerEvent(client, token, followUp, event);
  }

  /**
   * Starts the connection's live-list subscription for a state. The subscriber's user (for scope checks) is
   * the one the state's tier resolves for this event, read once now.
   */
  private async subscribeLive(client: EventClient, token: string, definition: StateDefinition, event: RoutedEvent): Promise<void> {
    const subscribe: HandlerDefinition = {
      fullName: `${definition.fullName}.${LIVE_SUBSCRIBE}`,
      method: LIVE_SUBSCRIBE,
      state: definition,
      options: {},
      params: [],
      paramTypes: [],
      streaming: false,
    };
    const outcome = await this.bridge.run(subscribe, event.routerData, client);
    const user = outcome.request?.user;
    await this.bridge.finish(outcome, client);
    this.liveLists.start(client.sid, definition, user, (change) =>
      this.modify(token, definition.cls, (state) => change(state as Record<string, unknown>), client),
    );
  }

  private enqueueServerEvent(client: EventClient, token: string, followUp: ServerEvent, origin: RoutedEvent): Promise<void> {
    const name =
      typeof followUp.target === 'string'
        ? followUp.target
        : `${this.registry.definitionOf(followUp.target.state).fullName}.${followUp.target.method}`;
    // Follow-ups inherit the originating event's router data, and run after everything already queued.
    const event: RoutedEvent = { name, payload: followUp.payload, routerData: origin.routerData };
    return this.queue.run(token, () => this.process(client, token, event));
  }

  /** Writes the view's changes into a new tree (copy on write), saves it and returns the wire delta. */
  private async commit(lease: StateLease, tree: { state: StoredState }, view: StateView): Promise<Delta | undefined> {
    const changes = view.changes();
    const changedNames = Object.keys(changes);
    if (changedNames.length === 0) return undefined;
    const fullName = view.definition.fullName;
    const committed = { ...view.allVars(), ...tree.state[fullName], ...changes };
    tree.state = { ...tree.state, [fullName]: committed };
    await lease.save(tree.state);
    view.rebase(committed);
    const wire = { ...toWireVars(changes), ...toWireVars(view.computedValues(changedNames)) };
    return Object.keys(wire).length ? { [fullName]: wire } : undefined;
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

  private async hydrate(client: EventClient, token: string, event: RoutedEvent): Promise<void> {
    await this.withLease(token, async (lease, tree) => {
      const root = { ...tree.state[ROOT_STATE_NAME], is_hydrated: false, router: buildRouterVar(event.routerData) };
      tree.state = { ...tree.state, [ROOT_STATE_NAME]: root };
      await lease.save(tree.state);
      const delta: Delta = { [ROOT_STATE_NAME]: toWireVars(root) };
      for (const definition of this.registry.states()) delta[definition.fullName] = this.wholeState(definition, tree.state);
      client.emitUpdate({ delta });
    });
  }

  private wholeState(definition: StateDefinition, state: StoredState): Record<string, unknown> {
    const view = new StateView(definition, state[definition.fullName]);
    return { ...toWireVars(view.allVars()), ...toWireVars(view.computedValues()) };
  }

  private async setHydrated(client: EventClient, token: string, event: RoutedEvent): Promise<void> {
    const value = event.name === SET_IS_HYDRATED ? event.payload.value !== false : true;
    await this.withLease(token, async (lease, tree) => {
      tree.state = { ...tree.state, [ROOT_STATE_NAME]: { ...tree.state[ROOT_STATE_NAME], is_hydrated: value } };
      await lease.save(tree.state);
    });
    client.emitUpdate({ delta: { [ROOT_STATE_NAME]: { [varKey('is_hydrated')]: value } } });
  }

  /** Acquires the token's lease, hands the current tree to `work`, and always releases. */
  private async withLease(token: string, work: (lease: StateLease, tree: { state: StoredState }) => Promise<void>): Promise<void> {
    let lease: StateLease;
    try {
      lease = await this.store.acquire(token);
    } catch (error) {
      this.logger.warn(`State store unavailable: ${(error as Error).message}`);
      throw new BridgeError('state_unavailable', 'The state store is unavailable; nothing was changed. Try again.');
    }
    try {
      await work(lease, { state: lease.state ?? {} });
    } catch (error) {
      // A save that failed (Redis gone mid-event) or was refused (lock expired) is the store's failure, not the handler's.
      if (error instanceof StateStoreError || error instanceof LockLostError) {
        this.logger.warn(`State store failed during an event: ${error.message}`);
        throw new BridgeError('state_unavailable', 'The state store is unavailable; the change may not have been saved. Try again.');
      }
      throw error;
    } finally {
      await lease.release().catch((error: Error) => this.logger.warn(`Releasing a state lock failed: ${error.message}`));
    }
  }

  private routerDataFor(client: EventClient, token: string, event: InboundEvent): RouterData {
    const query: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(event.routerData.query ?? {})) query[key.replace(/-/g, '_')] = value;
    return {
      ...event.routerData,
      query,
      token,
      sid: client.sid,
      headers: { ...client.headers, 'asgi-scope-client': client.remoteAddress },
      ip: this.bridge.clientIp(client),
    };
  }

  private reportError(client: EventClient, error: unknown, eventName?: string): void {
    if (error instanceof BridgeError) {
      client.emitError(error.toPayload(eventName));
      return;
    }
    const exception = error as Error;
    this.logger.error(`Event ${eventName ?? '(unparsed)'} failed: ${exception?.stack ?? String(error)}`);
    const message = this.options.production ? 'An error occurred while handling the event.' : `${exception?.name ?? 'Error'}: ${exception?.message ?? String(error)}`;
    client.emitError({ code: 'handler_error', message, ...(eventName ? { event: eventName } : {}) });
  }
}
