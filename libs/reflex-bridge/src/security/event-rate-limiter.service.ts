import { Inject, Injectable, Logger, type OnApplicationBootstrap, type Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ThrottlerStorage } from '@nestjs/throttler';
// A deep import of a dependency-free file: the package root is CommonJS that require()s Nest 12's ES modules,
// which Node 20 itself handles but Jest on Node 20 cannot, so loading it here would break every app's Jest suite.
import {
  THROTTLER_BLOCK_DURATION,
  THROTTLER_KEY_GENERATOR,
  THROTTLER_LIMIT,
  THROTTLER_SKIP,
  THROTTLER_TRACKER,
  THROTTLER_TTL,
} from '@nestjs/throttler/dist/throttler.constants.js';
import { BridgeError, type BridgeErrorPayload } from '../protocol/bridge-error.js';
import type { HandlerDefinition } from '../state/state-definition.js';
import { StateRegistry } from '../state/state-registry.service.js';
import { isPromise, then, type MaybePromise } from '../common/maybe-promise.js';
import type { EventClient } from '../common/event-client.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import type { ResolvedRateLimitOptions } from './rate-limit.options.js';
import { isRateLimitStorage, RATE_LIMIT_STORAGE } from './rate-limit-storage.js';
import { addressKey } from './client-address.js';
import { RepeatedErrorLog } from '../common/repeated-error-log.js';
import { logText } from '../common/log-text.js';
import { sinceStartMs } from '../common/since-start-clock.js';


/** Starts `client`'s budget window afresh when it has none or it (or its block) is over: counting starts at 0. */
function openWindow(client: EventClient, now: number, ttlMs: number): void {
  const endsAt = client.budgetEndsAt;
  if (endsAt === undefined || endsAt <= now) {
    client.budgetHits = 0;
    client.budgetEndsAt = now + ttlMs;
  }
}

/** The name `@SkipThrottle()` and `@Throttle({ default: ... })` use. */
const DEFAULT_NAME = 'default';
/** At most one "storage failed" warning per this many milliseconds. */
const WARN_EVERY_MS = 30_000;

/** One `@Throttle` limit of one handler, read once at bootstrap. */
interface HandlerLimit {
  name: string;
  limit: number;
  ttl: number;
  blockDuration: number;
  /** `<state.handler>@`: the counter key is this plus the client IP. */
  keyBase: string;
}

/**
 * The rate limits of the event pipeline, built on `@nestjs/throttler`:
 *
 * - **Per connection** ({@link admitConnection}): a budget of events per socket (`rateLimit.perConnection`),
 *   counted when an event arrives, before it is queued, in this process (a socket lives on one worker), with the
 *   socket's other messages and large frames ({@link chargeConnection}): a fixed
 *   window, as the throttler's storages count, kept on the client object itself (no map entry per connection, and
 *   nothing to forget when it closes). Synchronous, with no allocation.
 * - **Per handler** ({@link checkHandler}): `@Throttle({ <name>: { limit, ttl, blockDuration? } })` on an
 *   `@EventHandler()` method or its `@State()` class (the method's value wins, per name and field, as with
 *   `ThrottlerGuard`), counted per handler and **per client IP** in the rate-limit storage (Redis with
 *   `redisUrl`). The IP, not the socket or token: a guesser opens as many sockets and tokens as it likes. The
 *   metadata is read once per handler at bootstrap; an invalid value stops the app there.
 * - `@SkipThrottle({ <name>: true })` drops that named limit for a handler; `@SkipThrottle()` (the `default` name)
 *   also exempts the handler's events from the connection budget.
 *
 * A refused event gets a `rate_limited` error with `retryAfterMs`; the handler does not run. If the storage fails
 * (Redis unreachable), the event is let through and a warning logged: a limit that cannot count does not take
 * the app down with it (with `redisUrl`, states usually live in the same Redis, so the event fails there anyway).
 */
@Injectable()
export class EventRateLimiter implements OnApplicationBootstrap {
  private readonly logger = new Logger('ReflexBridge');
  private readonly options: ResolvedRateLimitOptions;
  private readonly budget: ResolvedRateLimitOptions['perConnection'];
  /** Handler limits by handler; handlers without limits are absent. */
  private readonly limits = new Map<HandlerDefinition, HandlerLimit[]>();
  /** Full names of handlers marked `@SkipThrottle()`: not counted against the connection budget. */
  private readonly exempt = new Set<string>();
  private warnedAt = -Infinity;
  /** `rateLimit.cookieHandoffs` as a limit of the storage; undefined when off. */
  private readonly cookieHandoffs: HandlerLimit | undefined;
  /** `rateLimit.newStates` as a limit of the storage; undefined when off. */
  private readonly newStates: HandlerLimit | undefined;
  /**
   * Addresses whose new states were kept short: a warning for the first of each, at most one per address and five in
   * all a minute (the rest counted in the next line): many addresses can spend their budgets.
   */
  private readonly newStatesLog = new RepeatedErrorLog({ perKind: 1, perWindow: 5, windowMs: 60_000 });
  /** `rateLimit.newTabs` as a limit of the storage; undefined when off. */
  private readonly newTabs: HandlerLimit | undefined;
  /** Addresses refused new tabs: logged as {@link newStatesLog} logs its addresses. */
  private readonly newTabsLog = new RepeatedErrorLog({ perKind: 1, perWindow: 5, windowMs: 60_000 });
  /** `unusedStateTtlSeconds`, for the warning: how long an idle tab of such an address keeps its state. */
  private readonly shortTtlSeconds: number;

  constructor(
    @Inject(RESOLVED_OPTIONS) options: ResolvedReflexBridgeOptions,
    @Inject(RATE_LIMIT_STORAGE) private readonly storage: ThrottlerStorage,
    private readonly registry: StateRegistry,
    private readonly reflector: Reflector,
  ) {
    this.options = options.rateLimit;
    this.budget = this.options.perConnection;
    const handoffs = this.options.cookieHandoffs;
    this.cookieHandoffs = handoffs && { name: 'cookie-handoff', limit: handoffs.limit, ttl: handoffs.ttlMs, blockDuration: handoffs.blockDurationMs, keyBase: 'cookie-handoff@' };
    const states = this.options.newStates;
    this.newStates = states && { name: 'new-state', limit: states.limit, ttl: states.ttlMs, blockDuration: states.blockDurationMs, keyBase: 'new-state@' };
    this.shortTtlSeconds = options.unusedStateTtlSeconds;
    const tabs = this.options.newTabs;
    this.newTabs = tabs && { name: 'new-tab', limit: tabs.limit, ttl: tabs.ttlMs, blockDuration: tabs.blockDurationMs, keyBase: 'new-tab@' };
  }

  /** Reads every handler's `@Throttle` / `@SkipThrottle` metadata once. */
  onApplicationBootstrap(): void {
    if (!this.options.enabled) return;
    for (const handler of this.registry.handlerDefinitions()) this.compile(handler);
  }

  /**
   * Reads the `@Throttle` / `@SkipThrottle` metadata of a handler made after bootstrap (a state's built-in
   * `live_subscribe`, which has no method of its own: its state class's metadata applies).
   */
  addHandler(handler: HandlerDefinition): void {
    if (!this.options.enabled || this.limits.has(handler)) return;
    this.compile(handler);
  }

  /**
   * Counts one event of `client`'s connection against its budget. Returns 0 when it may go on, else the
   * milliseconds until the budget lets events through again. Synchronous: it runs for every event.
   */
  admitConnection(client: EventClient, eventName: string): number {
    const budget = this.budget;
    if (budget === undefined || (this.exempt.size !== 0 && this.exempt.has(eventName))) return 0;
    const now = sinceStartMs();
    openWindow(client, now, budget.ttlMs);
    const hits = (client.budgetHits = client.budgetHits! + 1);
    // The first refused event starts the block; later refused events leave it as it is.
    if (hits === budget.limit + 1 && budget.blockDurationMs > 0) client.budgetEndsAt = now + budget.blockDurationMs;
    return hits > budget.limit ? client.budgetEndsAt! - now : 0;
  }

  /**
   * Counts `units` of what `client`'s connection sent besides events (other messages, large frames) against its
   * budget. They use it up, but never past its limit: the event that comes next is the one refused, and shown.
   * Returns 0 while the budget has room left, else the milliseconds until its window (or block) ends, during which
   * the gateway does not read the socket.
   */
  chargeConnection(client: EventClient, units: number): number {
    const budget = this.budget;
    if (budget === undefined) return 0;
    const now = sinceStartMs();
    openWindow(client, now, budget.ttlMs);
    let hits = client.budgetHits!;
    if (hits < budget.limit) client.budgetHits = hits = Math.min(hits + units, budget.limit);
    return hits >= budget.limit ? client.budgetEndsAt! - now : 0;
  }

  /**
   * True when the event {@link admitConnection} just refused for `client` was the first one its budget refused in
   * this block (or window): the one whose refusal is shown to the user. The refusals after it, until the budget
   * lets events through again, are answered with the structured error alone.
   */
  isFirstRefusal(client: EventClient): boolean {
    return this.budget !== undefined && client.budgetHits === this.budget.limit + 1;
  }

  /**
   * Milliseconds until `client`'s connection budget would let its next event through, 0 when it would now, or when
   * some handler is marked `@SkipThrottle()` (an event that is not parsed could be one of its). While it says more,
   * an event frame need not be parsed to be refused (see `ConnectionLimits.inspectFrame`): the budget counts hits up
   * to its limit, and the next event is the one refused.
   */
  nextEventRefusedForMs(client: EventClient): number {
    const budget = this.budget;
    if (budget === undefined || this.exempt.size !== 0) return 0;
    const hits = client.budgetHits;
    if (hits === undefined || hits < budget.limit) return 0;
    const left = client.budgetEndsAt! - sinceStartMs();
    return left > 0 ? left : 0;
  }

  /**
   * Milliseconds until `client`'s connection budget lets events through again, 0 while it does. Reads what
   * {@link admitConnection} counted; no clock is read for a client within its budget.
   */
  connectionBlockedForMs(client: EventClient): number {
    const budget = this.budget;
    const hits = client.budgetHits;
    if (budget === undefined || hits === undefined || hits <= budget.limit) return 0;
    const left = client.budgetEndsAt! - sinceStartMs();
    return left > 0 ? left : 0;
  }

  /**
   * Counts one call of `handler` from client address `ip` against the handler's `@Throttle` limits. Returns 0 when
   * it may run, else the milliseconds to wait (the longest of the limits that refused). Synchronous with the
   * in-memory storage; a promise with Redis. Never rejects.
   */
  checkHandler(handler: HandlerDefinition, ip: string): MaybePromise<number> {
    const limits = this.limits.get(handler);
    if (limits === undefined) return 0;
    const tracker = addressKey(ip, this.options.ipv6SubnetPrefix);
    let wait = 0;
    let pending: Array<Promise<number>> | undefined;
    for (const limit of limits) {
      const result = this.count(limit, `${limit.keyBase}${tracker}`);
      if (isPromise(result)) (pending ??= []).push(result);
      else if (result > wait) wait = result;
    }
    if (!pending) return wait;
    return Promise.all(pending).then((waits) => Math.max(wait, ...waits));
  }

  /**
   * Counts one session cookie change of an event from client address `ip` against `rateLimit.cookieHandoffs`.
   * Returns 0 when its handoff may be issued, else the milliseconds to wait. Never rejects (a storage failure lets
   * it through).
   */
  checkCookieHandoff(ip: string): MaybePromise<number> {
    const limit = this.cookieHandoffs;
    if (limit === undefined) return 0;
    return this.count(limit, `${limit.keyBase}${addressKey(ip, this.options.ipv6SubnetPrefix)}`);
  }

  /** Whether new states or new tabs are counted at all (`rateLimit.newStates` or `rateLimit.newTabs` is on). */
  get countsNewStatesOrTabs(): boolean {
    return this.newStates !== undefined || this.newTabs !== undefined;
  }

  /**
   * Counts one new tab (a token the store has no state for) of client address `ip` against `rateLimit.newTabs`:
   * resolves when it may have a state (also when the budget is off, and when the storage fails), throws (or rejects)
   * the client's `rate_limited` error when the address spent its budget.
   */
  admitNewTab(ip: string): MaybePromise<void> {
    const limit = this.newTabs;
    if (limit === undefined) return;
    const address = addressKey(ip, this.options.ipv6SubnetPrefix);
    return then(this.count(limit, `${limit.keyBase}${address}`), (waitMs) => {
      if (waitMs === 0) return;
      this.reportNewTabs(address, limit);
      const retryAfterMs = Math.max(1, Math.ceil(waitMs));
      throw new BridgeError('rate_limited', `Too many new tabs from your address; try again in ${Math.ceil(retryAfterMs / 1000)} s.`, undefined, undefined, retryAfterMs);
    });
  }

  /**
   * Counts one new state of client address `ip` against `rateLimit.newStates`: true when it may be kept for the full
   * state TTL (also when the budget is off, and when the storage fails), false when the address spent its budget.
   */
  admitNewState(ip: string): MaybePromise<boolean> {
    const limit = this.newStates;
    if (limit === undefined) return true;
    const address = addressKey(ip, this.options.ipv6SubnetPrefix);
    return then(this.count(limit, `${limit.keyBase}${address}`), (waitMs) => {
      if (waitMs === 0) return true;
      this.reportNewStates(address, limit);
      return false;
    });
  }

  /**
   * A warning for an address whose new states are kept short, within {@link newStatesLog}'s bounds. Its users notice
   * nothing until a tab idles past `unusedStateTtlSeconds`, so the log is where an operator learns of it: above all
   * behind a proxy without `bridge.trustProxy`, where every client has the proxy's address and shares one budget.
   */
  private reportNewStates(address: string, limit: HandlerLimit): void {
    this.warnFor(
      this.newStatesLog,
      address,
      `Keeping new states from ${logText(address, 64)} short: that address made more than ${limit.limit} new states in ${limit.ttl} ms (rateLimit.newStates). ` +
        `Its tabs work on, but one left idle ${this.shortTtlSeconds} s loses its state. If this is your proxy's address, set bridge.trustProxy.`,
    );
  }

  /** A warning for an address refused new tabs, within {@link newTabsLog}'s bounds. */
  private reportNewTabs(address: string, limit: HandlerLimit): void {
    this.warnFor(
      this.newTabsLog,
      address,
      `Refusing new tabs from ${logText(address, 64)}: that address opened more than ${limit.limit} tabs with no state in ${limit.ttl} ms (rateLimit.newTabs); ` +
        `they are answered rate_limited until the window ends. If this is your proxy's address, set bridge.trustProxy.`,
    );
  }

  /**
   * Logs `text` for `address` when `log` allows a line for it now, saying how many such lines it held back before.
   * The address in `text` is cut short and escaped by the caller: with bridge.trustProxy a client that bypasses the
   * proxy writes its own X-Forwarded-For.
   */
  private warnFor(log: RepeatedErrorLog, address: string, text: string): void {
    const verdict = log.take(address);
    if (!verdict.log) return;
    const notLogged = verdict.notLoggedBefore > 0 ? ` (${verdict.notLoggedBefore} more since the last such line were not logged)` : '';
    this.logger.warn(`${text}${notLogged}`);
  }

  /** The `bridge_error` payload of an event refused for `waitMs` milliseconds. */
  refusal(eventName: string, waitMs: number): BridgeErrorPayload {
    const retryAfterMs = Math.max(1, Math.ceil(waitMs));
    return {
      code: 'rate_limited',
      message: `Too many events; try again in ${Math.ceil(retryAfterMs / 1000)} s.`,
      event: eventName,
      retryAfterMs,
    };
  }

  /** One hit on one limit, in milliseconds to wait; a storage failure lets the event through. */
  private count(limit: HandlerLimit, key: string): MaybePromise<number> {
    const storage = this.storage;
    let result: MaybePromise<number>;
    try {
      if (isRateLimitStorage(storage)) {
        result = storage.hit(key, limit.ttl, limit.limit, limit.blockDuration, limit.name);
      } else {
        // Any other ThrottlerStorage: its record speaks in whole seconds.
        result = storage
          .increment(key, limit.ttl, limit.limit, limit.blockDuration, limit.name)
          .then((record) => (record.isBlocked ? Math.max(1, record.timeToBlockExpire) * 1000 : 0));
      }
    } catch (error) {
      return this.failed(error);
    }
    return isPromise(result) ? result.catch((error: unknown) => this.failed(error)) : result;
  }

  private failed(error: unknown): number {
    const now = Date.now();
    if (now - this.warnedAt >= WARN_EVERY_MS) {
      this.warnedAt = now;
      this.logger.warn(`Rate limits could not be counted, events are let through: ${(error as Error)?.message ?? String(error)}`);
    }
    return 0;
  }

  private compile(handler: HandlerDefinition): void {
    const cls = handler.state.cls;
    const method = cls.prototype[handler.method] as object | undefined;
    // A built-in handler (see addHandler) has no method: its class's metadata alone.
    const targets: Array<Type | (() => void)> = typeof method === 'function' ? [method as () => void, cls] : [cls];
    const where = `${cls.name}.${handler.method}`;
    if (this.reflector.getAllAndOverride<boolean | undefined>(THROTTLER_SKIP + DEFAULT_NAME, targets) === true) this.exempt.add(handler.fullName);
    const names = new Set<string>();
    for (const target of targets) {
      for (const key of Reflect.getMetadataKeys(target) as unknown[]) {
        if (typeof key === 'string' && key.startsWith(THROTTLER_LIMIT)) names.add(key.slice(THROTTLER_LIMIT.length));
      }
    }
    const limits: HandlerLimit[] = [];
    for (const name of names) {
      if (this.reflector.getAllAndOverride<boolean | undefined>(THROTTLER_SKIP + name, targets) === true) continue;
      const read = (key: string) => this.reflector.getAllAndOverride<unknown>(key + name, targets);
      const limit = read(THROTTLER_LIMIT);
      const ttl = read(THROTTLER_TTL);
      const blockDuration = read(THROTTLER_BLOCK_DURATION) ?? ttl;
      const problem = (field: string, expected: string, value: unknown) =>
        new Error(
          `ReflexBridgeModule: @Throttle on ${where}: "${field}" of throttler "${name}" must be ${expected} for an event handler, got ` +
            `${typeof value === 'function' ? 'a function (functions of an ExecutionContext work for HTTP routes only)' : JSON.stringify(value)}`,
        );
      if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0) throw problem('limit', 'an integer ≥ 0', limit);
      if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) throw problem('ttl', 'a positive number of milliseconds', ttl);
      if (typeof blockDuration !== 'number' || !Number.isFinite(blockDuration) || blockDuration < 0) {
        throw problem('blockDuration', 'a number of milliseconds ≥ 0', blockDuration);
      }
      if (read(THROTTLER_TRACKER) !== undefined || read(THROTTLER_KEY_GENERATOR) !== undefined) {
        this.logger.warn(`@Throttle on ${where}: getTracker and generateKey are ignored for events; event limits count per handler and client IP.`);
      }
      limits.push({ name, limit, ttl, blockDuration, keyBase: `${handler.fullName}@` });
    }
    if (limits.length > 0) this.limits.set(handler, limits);
  }
}
