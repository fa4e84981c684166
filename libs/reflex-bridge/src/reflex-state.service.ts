import { Injectable } from '@nestjs/common';
import { EventPipeline } from './pipeline/event-pipeline.service.js';
import { ClientRegistry } from './gateway/client-registry.js';
import { EventGateway } from './gateway/event.gateway.js';
import { StateStore } from './state/store/state-store.js';
import { StateRegistry } from './state/state-registry.service.js';
import { UnknownClientTokenError } from './state/unknown-client-token.error.js';
import { isClientToken } from './protocol/client-token.js';

/**
 * Reads and changes client states from outside an event (HTTP routes, jobs, services). Changes take the
 * client's state lock and queue like events, and the delta is pushed to the client when it is connected.
 * @example
 * ```ts
 * await states.modify(token, CounterState, (counter) => { counter.count += 1; });
 * ```
 * @publicApi
 */
@Injectable()
export class ReflexStateService {
  constructor(
    private readonly pipeline: EventPipeline,
    private readonly clients: ClientRegistry,
    private readonly gateway: EventGateway,
    private readonly store: StateStore,
    private readonly registry: StateRegistry,
  ) {}

  /**
   * Applies `change` to the state of class `stateClass` of the client `token`, and pushes the delta to its
   * socket, on whichever worker it is connected (with `redisUrl`).
   * @throws UnknownClientTokenError for a malformed token, or one with no state (never connected, or expired):
   * nothing is created for it.
   */
  async modify<T extends object>(token: string, stateClass: abstract new (...args: never[]) => T, change: (state: T) => void | Promise<void>): Promise<void> {
    if (!isClientToken(token)) throw new UnknownClientTokenError('malformed');
    return this.pipeline.modify(token, stateClass, change, this.gateway.clientFor(token));
  }

  /**
   * The current vars of one state of a client (initial values for a client that has none), as a copy: changing it
   * changes nothing (use {@link modify}).
   * @throws UnknownClientTokenError for a malformed token, as {@link modify} does: its defaults would pass for a
   * client's state where no client can hold that token.
   */
  async read<T extends object>(token: string, stateClass: abstract new (...args: never[]) => T): Promise<Record<string, unknown>> {
    if (!isClientToken(token)) throw new UnknownClientTokenError('malformed');
    const definition = this.registry.definitionOf(stateClass);
    const stored = (await this.store.read(token))?.[definition.fullName] ?? {};
    // A copy: the in-memory store hands out the saved objects themselves, and the defaults are the ones every new
    // client starts from, so a caller that changed what it read (`items.push(...)`) would change the client's state
    // outside its lock, unmeasured and unsent, or every new client's initial values.
    return structuredClone({ ...Object.fromEntries(definition.vars), ...stored });
  }

  /** True when a socket holding `token` is connected to this worker. */
  isConnected(token: string): boolean {
    return this.clients.get(token) !== undefined;
  }
}
