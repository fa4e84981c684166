import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { RoutePattern, type RouteParams } from '../protocol/route-pattern.js';
import type { HandlerDefinition } from './state-definition.js';
import { StateRegistry } from './state-registry.service.js';
import { getOnLoadRoutes } from './on-load.decorator.js';

/** A page's on-load handlers, and the arguments its route took from the path. */
export interface OnLoadMatch {
  /** The route that matched, normalised (`/product/[id]`). */
  readonly route: string;
  /** The handlers to run, in order. */
  readonly handlers: readonly HandlerDefinition[];
  /** The route's arguments (`{ id: '42' }`, `{ splat: ['a', 'b'] }`). */
  readonly params: RouteParams;
}

interface OnLoadEntry {
  readonly pattern: RoutePattern;
  readonly handlers: HandlerDefinition[];
}

/**
 * The on-load handlers of every route, from the `@OnLoad` decorators of the registered states, and the lookup
 * Reflex's backend does for `on_load_internal`: the most specific route matching the page's path.
 */
@Injectable()
export class OnLoadRoutes implements OnApplicationBootstrap {
  private readonly logger = new Logger('ReflexBridge');
  private table: OnLoadEntry[] | undefined;

  constructor(private readonly registry: StateRegistry) {}

  /** Reads the decorators once every state is registered, so an invalid route fails the startup. */
  onApplicationBootstrap(): void {
    const table = this.entries();
    if (table.length > 0) this.logger.log(`Registered on-load handlers for ${table.length} route(s)`);
  }

  /**
   * The on-load handlers for the page at `pathname` (client input: any value is accepted, and this never throws),
   * or `undefined` when no route with on-load handlers matches it.
   */
  match(pathname: unknown): OnLoadMatch | undefined {
    for (const entry of this.entries()) {
      const params = entry.pattern.match(pathname);
      if (params) return { route: entry.pattern.route, handlers: entry.handlers, params };
    }
    return undefined;
  }

  /** Every route with its handlers, most specific first (Reflex's order; ties keep the order they were declared in). */
  routes(): ReadonlyArray<{ route: string; handlers: readonly HandlerDefinition[] }> {
    return this.entries().map((entry) => ({ route: entry.pattern.route, handlers: entry.handlers }));
  }

  private entries(): OnLoadEntry[] {
    this.table ??= this.build();
    return this.table;
  }

  private build(): OnLoadEntry[] {
    const byShape = new Map<string, OnLoadEntry>();
    for (const handler of this.registry.handlerDefinitions()) {
      const method: unknown = handler.state.cls.prototype[handler.method];
      for (const route of getOnLoadRoutes(method)) {
        let pattern: RoutePattern;
        try {
          pattern = RoutePattern.parse(route);
        } catch (error) {
          throw new Error(`@OnLoad on ${handler.state.cls.name}.${handler.method}: ${(error as Error).message}`, { cause: error });
        }
        const entry = byShape.get(pattern.shape);
        if (!entry) {
          byShape.set(pattern.shape, { pattern, handlers: [handler] });
          continue;
        }
        // `/product/[id]` and `/product/[pid]` are one page: Reflex refuses such a pair, and so do we, rather than
        // run one spelling's handlers with the other's params missing.
        if (entry.pattern.route !== pattern.route) {
          throw new Error(`@OnLoad on ${handler.state.cls.name}.${handler.method}: route "${pattern.route}" is the page "${entry.pattern.route}" spelled differently; use one spelling.`);
        }
        if (!entry.handlers.includes(handler)) entry.handlers.push(handler);
      }
    }
    const compare = (a: OnLoadEntry, b: OnLoadEntry) => {
      for (let i = 0; i < 3; i++) {
        const difference = a.pattern.specificity[i]! - b.pattern.specificity[i]!;
        if (difference !== 0) return difference;
      }
      return 0;
    };
    // Array.prototype.sort is stable: routes of equal specificity stay in declaration order, as in Reflex.
    return [...byShape.values()].sort(compare);
  }
}
