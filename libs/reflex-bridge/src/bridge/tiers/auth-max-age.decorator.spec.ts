import { describe, expect, it } from '@jest/globals';
import type { HandlerDefinition } from '../../state/state-definition.js';
import { AuthMaxAge, authMaxAgeMsOf } from './auth-max-age.decorator.js';

@AuthMaxAge(30)
class AccountState {
  @AuthMaxAge(0)
  changeEmail(): void {}

  rename(): void {}
}

class TeamAccountState extends AccountState {
  invite(): void {}
}

class OpenState {
  @AuthMaxAge(2.5)
  look(): void {}

  browse(): void {}
}

const handler = (cls: new () => object, method: string) => ({ state: { cls }, method }) as unknown as HandlerDefinition;

describe('@AuthMaxAge', () => {
  it('gives each handler its own limit, else its class\'s (inherited by subclasses), in milliseconds', () => {
    expect(authMaxAgeMsOf(handler(AccountState, 'changeEmail'))).toBe(0);
    expect(authMaxAgeMsOf(handler(AccountState, 'rename'))).toBe(30_000);
    expect(authMaxAgeMsOf(handler(TeamAccountState, 'invite'))).toBe(30_000);
    expect(authMaxAgeMsOf(handler(TeamAccountState, 'changeEmail'))).toBe(0);
    expect(authMaxAgeMsOf(handler(OpenState, 'look'))).toBe(2_500);
  });

  it('has no limit where neither the handler nor its class has one, nor without a handler', () => {
    expect(authMaxAgeMsOf(handler(OpenState, 'browse'))).toBeUndefined();
    // A built-in handler, which has no method of its own.
    expect(authMaxAgeMsOf(handler(OpenState, 'live_subscribe'))).toBeUndefined();
    expect(authMaxAgeMsOf(undefined)).toBeUndefined();
  });

  it('refuses where it is declared anything but a number of seconds, 0 or more', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, '5', undefined, null]) {
      expect(() => AuthMaxAge(bad as number)).toThrow(/@AuthMaxAge\(\) takes a number of seconds, 0 or more/);
    }
  });
});
