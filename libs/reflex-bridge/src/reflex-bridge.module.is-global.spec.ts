import { describe, expect, it } from '@jest/globals';
import { ReflexBridgeModule } from './reflex-bridge.module.js';

describe('ReflexBridgeModule isGlobal', () => {
  it('is global unless told false', () => {
    expect(ReflexBridgeModule.forRoot().global).toBe(true);
    expect(ReflexBridgeModule.forRoot({ isGlobal: false }).global).toBe(false);
    expect(ReflexBridgeModule.forRootAsync({ isGlobal: false, useFactory: () => ({}) }).global).toBe(false);
  });

  // Before, "true" (a config service's string) made the module silently not global; "false" happened to work.
  it.each(['true', 'false', 1])('refuses %j, naming the option, with forRoot and forRootAsync', (value) => {
    const message = `ReflexBridgeModule: invalid option "isGlobal": expected true or false, got ${JSON.stringify(value)} (${typeof value})`;
    expect(() => ReflexBridgeModule.forRoot({ isGlobal: value as never })).toThrow(message);
    expect(() => ReflexBridgeModule.forRootAsync({ isGlobal: value as never, useFactory: () => ({}) })).toThrow(message);
  });
});
