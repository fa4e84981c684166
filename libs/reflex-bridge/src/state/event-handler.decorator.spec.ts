import { describe, expect, it } from '@jest/globals';
import { Reflector } from '@nestjs/core';
import { EventHandler, EventHandlerMetadata } from './event-handler.decorator.js';

// The registry finds handlers among the prototype's string-named methods: anything else decorated was never callable,
// and a client calling it only ever got unknown_handler.
describe('@EventHandler() where no client could call it', () => {
  it('fails on a static method, naming it', () => {
    expect(() => {
      class CounterState {
        @EventHandler() static reset(): void {}
      }
      return CounterState;
    }).toThrow('@EventHandler() belongs on instance methods: CounterState.reset is static');
  });

  it('fails on a getter, naming it', () => {
    expect(() => {
      class CounterState {
        @EventHandler() get total(): number {
          return 1;
        }
      }
      return CounterState;
    }).toThrow('@EventHandler() belongs on methods: CounterState.total is not one');
  });

  it('fails on a symbol-named method', () => {
    const reset = Symbol('reset');
    expect(() => {
      class CounterState {
        @EventHandler() [reset](): void {}
      }
      return CounterState;
    }).toThrow('@EventHandler() needs a string name: clients call handlers by name (CounterState.Symbol(reset))');
  });

  it('still marks an instance method with its options', () => {
    class CounterState {
      @EventHandler({ upload: true }) attach(): void {}
    }
    expect(new Reflector().get(EventHandlerMetadata, CounterState.prototype.attach)).toEqual({ upload: true });
  });
});
