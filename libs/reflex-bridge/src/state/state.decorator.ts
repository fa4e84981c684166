import { applyDecorators, Injectable, type Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';

/** Options of {@link State}. */
export interface StateOptions {
  /**
   * The substate name on the wire. Reflex derives it from the module and class name
   * (`app___app____counter_state`); set it to talk to a compiled Reflex frontend.
   * @default the class name in snake_case (`CounterState` → `counter_state`)
   */
  name?: string;
  /**
   * The parent state class; the full name becomes `<parent full name>.<name>`.
   * @default the root state `reflex___state____state`
   */
  parent?: () => Type;
}

/** Typed metadata key written by {@link State}. */
export const StateMetadata = Reflector.createDecorator<StateOptions>();

/**
 * Marks a class as server-side UI state: a Nest provider (constructor injection works) whose plain public
 * fields with initial values are the vars, getters the computed vars, and `@EventHandler()` methods the
 * handlers clients may call. Fields named `_...` are backend-only: kept per client, never sent.
 * Register the class in a module's `providers`.
 * @example
 * ```ts
 * @State()
 * export class CounterState {
 *   count = 0;
 *   get doubled() { return this.count * 2; }
 *   @EventHandler() increment() { this.count++; }
 * }
 * ```
 * @publicApi
 */
export function State(options: StateOptions = {}): ClassDecorator {
  return applyDecorators(Injectable(), StateMetadata(options));
}
