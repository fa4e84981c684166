import 'reflect-metadata';
import { EventHandlerMetadata } from './event-handler.decorator.js';

const ON_LOAD_ROUTES = Symbol('reflex-bridge:on-load-routes');

/**
 * Runs this handler when a client loads one of these pages, like Reflex's `app.add_page(page, route=...,
 * on_load=...)`: after `on_load_internal` for the page in the event's `router_data`, on the first hydration,
 * on each client-side navigation and after each reconnect. Routes use Reflex's syntax: `/products`,
 * `/product/[id]`, `/docs/[[page]]` (optional), `/files/[[...splat]]` (catch-all). The route's arguments
 * reach the handler through {@link RouteParam} and the root `router` var's `page.params`.
 *
 * The method becomes an event handler too (as with `@EventHandler()`, which may also be written, e.g. for its
 * options): it runs as an ordinary event, under its state's bridge tier, in the client's queue, with its errors
 * reported to the client. Several handlers on one route run in the order the states were registered, then in
 * declaration order; then `is_hydrated` turns `true`. Stack the decorator or list several routes to attach one
 * handler to several pages. Invalid routes fail at startup.
 * @example
 * ```ts
 * @OnLoad('/product/[id]')
 * async show(@RouteParam('id') id: string) { this.product = await this.products.find(Number(id)); }
 * ```
 * @publicApi
 */
export function OnLoad(...routes: string[]): MethodDecorator {
  return (target, propertyKey, descriptor) => {
    const method: unknown = descriptor.value;
    if (typeof method !== 'function') throw new Error(`@OnLoad belongs on a state method, not on ${String(propertyKey)}`);
    if (routes.length === 0) throw new Error(`@OnLoad on ${String(propertyKey)} needs at least one route`);
    // Decorators apply bottom-up: put this one's routes first so stacked decorators read in source order.
    const earlier: string[] = Reflect.getMetadata(ON_LOAD_ROUTES, method) ?? [];
    Reflect.defineMetadata(ON_LOAD_ROUTES, [...routes, ...earlier], method);
    // An on-load handler is an event handler; an explicit @EventHandler({...}) keeps its own options.
    if (!Reflect.hasMetadata(EventHandlerMetadata.KEY, method)) EventHandlerMetadata({})(target, propertyKey, descriptor);
  };
}

/** The routes `@OnLoad` attached to a method, in source order, or `[]`. */
export function getOnLoadRoutes(method: unknown): string[] {
  return typeof method === 'function' ? ((Reflect.getMetadata(ON_LOAD_ROUTES, method) as string[] | undefined) ?? []) : [];
}
