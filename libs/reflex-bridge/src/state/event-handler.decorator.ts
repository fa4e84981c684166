import { Reflector } from '@nestjs/core';

/** Options of {@link EventHandler}. */
export interface EventHandlerOptions {
  /**
   * Treat this handler as an upload event (its tier is never below `auth_only`).
   * @default false (names containing "upload" count as uploads, as in reflex-django)
   */
  upload?: boolean;
}

/** Typed metadata key written by {@link EventHandler}. */
export const EventHandlerMetadata = Reflector.createDecorator<EventHandlerOptions>();

/**
 * Marks a state method as callable from clients as `<full state name>.<method>`. Unmarked methods, and
 * methods whose names start with `_`, can never be called from a client. On a static method, a getter or a
 * symbol-named method it throws where the class is declared: no client could call those.
 * The first parameter receives the event payload (an object keyed by argument name); type it with a
 * class-validator DTO to have it validated before the handler runs.
 * Return or yield {@link redirect} / {@link serverEvent} results; an async generator sends one delta per `yield`.
 * @example
 * ```ts
 * @EventHandler()
 * async *load() { this.loading = true; yield; this.rows = await this.repo.find(); this.loading = false; }
 * ```
 * @publicApi
 */
export function EventHandler(options: EventHandlerOptions = {}): MethodDecorator {
  const mark = EventHandlerMetadata(options);
  return (target, key, descriptor) => {
    // The registry looks for handlers among the prototype's string-named methods only: anything else decorated
    // could never be called, and its client would only ever hear unknown_handler.
    const owner = typeof target === 'function' ? target.name : target.constructor.name;
    if (typeof key !== 'string') throw new Error(`@EventHandler() needs a string name: clients call handlers by name (${owner}.${String(key)})`);
    if (typeof target === 'function') throw new Error(`@EventHandler() belongs on instance methods: ${owner}.${key} is static`);
    if (typeof descriptor.value !== 'function') throw new Error(`@EventHandler() belongs on methods: ${owner}.${key} is not one`);
    mark(target, key, descriptor);
  };
}
