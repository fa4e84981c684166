import { Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server } from 'node:http';
import { StateRegistry } from '../state/state-registry.service.js';
import { likelyMisspelt } from './label-typo.js';
import { getLiveLists } from './live-list.decorator.js';
import { liveModelRegistry } from './live-model.registry.js';

/**
 * Warns, once per label, about a `@LiveList` label that no `registerLiveModel` registered while a registered label is
 * a few edits away (`shop.prodcut` beside `shop.product`): the TypeORM subscriber publishes no change under it, so the
 * list never updates, and nothing else said so.
 *
 * It looks when the HTTP server starts listening, not at the module's own bootstrap: apps register their models in
 * their own `onApplicationBootstrap` (docs/live-updates.md), which Nest runs after the module's (a global module's
 * hooks run first). A label far from every registered one is left alone: apps publish changes of models TypeORM does
 * not write (`LiveBroadcaster.publish`) under labels nobody registers, and such a list updates as it should.
 */
@Injectable()
export class LiveLabelCheck implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ReflexBridge');
  private server?: Server;

  constructor(
    private readonly states: StateRegistry,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {}

  onApplicationBootstrap(): void {
    // No HTTP server (an application context): no client can subscribe to a list, so nothing to warn about.
    const server = this.adapterHost?.httpAdapter?.getHttpServer?.() as Server | undefined;
    if (typeof server?.once !== 'function') return;
    if (server.listening) return this.check();
    this.server = server;
    server.once('listening', this.check);
  }

  onApplicationShutdown(): void {
    this.server?.off('listening', this.check);
  }

  /** Logs one warning per misspelt-looking label, naming the state classes that use it and the registered labels. */
  readonly check = (): void => {
    this.server = undefined;
    const registered = liveModelRegistry().registeredLabels();
    if (registered.length === 0) return;
    const known = new Set(registered);
    const users = new Map<string, string[]>();
    for (const state of this.states.states()) {
      for (const list of getLiveLists(state.cls)) {
        if (known.has(list.label)) continue;
        const where = `${state.cls.name}.${list.property}`;
        users.set(list.label, [...(users.get(list.label) ?? []), where]);
      }
    }
    for (const [label, where] of users) {
      const meant = likelyMisspelt(label, registered);
      if (meant === undefined) continue;
      this.logger.warn(
        `@LiveList('${label}') on ${where.join(', ')}: no registerLiveModel registered this label, so the TypeORM subscriber publishes no change under it ` +
          `and the list never updates. Did you mean '${meant}'? Registered labels: ${registered.map((name) => `'${name}'`).join(', ')}. ` +
          `(If the app publishes '${label}' itself with LiveBroadcaster.publish, rename it or ignore this.)`,
      );
    }
  };
}
