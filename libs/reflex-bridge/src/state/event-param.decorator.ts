import 'reflect-metadata';

/** What a decorated handler parameter receives. */
export type EventParamKind = 'payload' | 'request' | 'user' | 'session' | 'route';

/** One decorated parameter: its position, kind and (for `payload`) an optional key. */
export interface EventParamDefinition {
  index: number;
  kind: EventParamKind;
  key?: string;
}

const EVENT_PARAMS = Symbol('reflex-bridge:event-params');

function eventParam(kind: EventParamKind, key?: string): ParameterDecorator {
  return (target, propertyKey, index) => {
    if (propertyKey === undefined) throw new Error(`@${kind} decorators belong on event handler parameters`);
    const existing: EventParamDefinition[] = Reflect.getMetadata(EVENT_PARAMS, target, propertyKey) ?? [];
    Reflect.defineMetadata(EVENT_PARAMS, [...existing, { index, kind, key }], target, propertyKey);
  };
}

/** The decorated parameters of a handler, or `[]`. */
export function getEventParams(prototype: object, method: string): EventParamDefinition[] {
  return Reflect.getMetadata(EVENT_PARAMS, prototype, method) ?? [];
}

/**
 * Injects the event payload, or one of its keys, into a handler parameter. A parameter typed `number`,
 * `string` or `boolean` is type-checked; one typed with a class-validator DTO is validated.
 * @example
 * ```ts
 * @EventHandler() add(@Payload('id') id: number) {}
 * ```
 * @publicApi
 */
export function Payload(key?: string): ParameterDecorator {
  return eventParam('payload', key);
}

/**
 * Injects the bridged request (the synthetic Express request of this event). Only on `auth_only` and `full`
 * tiers; in `smart` mode, asking for it makes the state bridge-aware.
 * @example
 * ```ts
 * @EventHandler() where(@EventRequest() req: Request) { this.path = req.path; }
 * ```
 * @publicApi
 */
export function EventRequest(): ParameterDecorator {
  return eventParam('request');
}

/**
 * Injects the authenticated user (`req.user`), or `undefined` for anonymous requests.
 * @example
 * ```ts
 * @EventHandler() greet(@EventUser() user?: User) { this.greeting = `Hi ${user?.name ?? 'there'}`; }
 * ```
 * @publicApi
 */
export function EventUser(): ParameterDecorator {
  return eventParam('user');
}

/**
 * Injects the request's session (`req.session`).
 * @example
 * ```ts
 * @EventHandler() remember(@EventSession() session: Session) { session.seen = true; }
 * ```
 * @publicApi
 */
export function EventSession(): ParameterDecorator {
  return eventParam('session');
}

/**
 * Injects the page's route params (the `page.params` of the root `router` var): one argument of the route, or
 * all of them. For an {@link OnLoad} handler they are the arguments of the route that matched, e.g. `id` of
 * `/product/[id]` (a string) or `splat` of a catch-all (a list of segments), merged over the page's query. For
 * other handlers they are what the client sent as the page's query and params. They are client input: a
 * parameter typed `string` or `number` is type-checked (`invalid_payload` otherwise); a missing one is `undefined`.
 * @example
 * ```ts
 * @OnLoad('/product/[id]') show(@RouteParam('id') id: string) {}
 * ```
 * @publicApi
 */
export function RouteParam(key?: string): ParameterDecorator {
  return eventParam('route', key);
}
