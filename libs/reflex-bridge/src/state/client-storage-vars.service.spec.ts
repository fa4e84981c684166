import { afterEach, describe, expect, it } from '@jest/globals';
import type { Type } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import { BridgeError } from '../protocol/bridge-error.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import { resolveOptions } from '../reflex-bridge.options.js';
import { Cookie, getClientStorage, LocalStorage, SessionStorage } from './client-storage.decorator.js';
import { ClientStorageVars } from './client-storage-vars.service.js';
import { StateRegistry } from './state-registry.service.js';
import { State } from './state.decorator.js';

@State()
class PrefsState {
  @Cookie({ name: 'theme', maxAge: 3600, sameSite: 'strict', secure: true })
  theme = 'light';
  @LocalStorage()
  category = '';
  @LocalStorage({ name: 'shop.sort', sync: true })
  sort = 'price';
  @SessionStorage()
  draft = 'none';
  plain = 'not stored';
}

@State({ name: 'bad_backend' })
class BackendVarState {
  @LocalStorage() _secret = '';
}

@State({ name: 'bad_type' })
class NumberVarState {
  @Cookie() visits = 0;
}

/** A second state keeping a var under the cookie name PrefsState's theme uses. */
@State({ name: 'admin_prefs' })
class AdminPrefsState {
  @Cookie({ name: 'theme' }) theme = 'dark';
  @LocalStorage({ name: 'theme' }) layout = 'grid';
}

const PREFS = 'reflex___state____state.prefs_state';

describe('client storage decorators', () => {
  it("record Reflex's options, with its defaults and without undefined ones", () => {
    expect(getClientStorage(PrefsState)).toEqual({
      theme: { kind: 'cookies', options: { name: 'theme', path: '/', maxAge: 3600, sameSite: 'strict', secure: true } },
      category: { kind: 'local_storage', options: { sync: false } },
      sort: { kind: 'local_storage', options: { name: 'shop.sort', sync: true } },
      draft: { kind: 'session_storage', options: {} },
    });
    expect(Object.keys(getClientStorage(class Plain {}))).toEqual([]);
  });

  it('refuse two places for one var', () => {
    expect(() => {
      class Twice {
        @Cookie()
        @LocalStorage()
        value = '';
      }
      return Twice;
    }).toThrow(/two client storage decorators/);
  });
});

describe('ClientStorageVars', () => {
  let moduleRef: TestingModule | undefined;
  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
  });

  async function vars(states: Type[], options = {}): Promise<ClientStorageVars> {
    moduleRef = await Test.createTestingModule({
      imports: [DiscoveryModule],
      providers: [StateRegistry, ClientStorageVars, { provide: RESOLVED_OPTIONS, useValue: resolveOptions(options) }, ...states],
    }).compile();
    await moduleRef.init();
    return moduleRef.get(ClientStorageVars);
  }

  it("maps the vars by wire name, in the shape of a Reflex frontend's client storage map", async () => {
    const storage = await vars([PrefsState]);
    expect(storage.map()).toEqual({
      cookies: { [`${PREFS}.theme_rx_state_`]: { name: 'theme', path: '/', maxAge: 3600, sameSite: 'strict', secure: true } },
      local_storage: { [`${PREFS}.category_rx_state_`]: { sync: false }, [`${PREFS}.sort_rx_state_`]: { name: 'shop.sort', sync: true } },
      session_storage: { [`${PREFS}.draft_rx_state_`]: {} },
    });
  });

  it('applies declared vars only, ignoring undeclared and unknown names', async () => {
    const storage = await vars([PrefsState]);
    const update = storage.parse({
      vars: {
        [`${PREFS}.theme_rx_state_`]: 'dark',
        [`${PREFS}.plain_rx_state_`]: 'hacked',
        [`${PREFS}.nope_rx_state_`]: 'x',
        'reflex___state____state.other.theme_rx_state_': 'x',
        'not a name': 'x',
      },
    });
    expect([...update.values()].map((values) => ({ ...values }))).toEqual([{ theme: 'dark' }]);
  });

  it('refuses the whole update when a declared var gets a non-string or an oversized value', async () => {
    const storage = await vars([PrefsState], { maxClientStorageValueLength: 10 });
    for (const bad of [42, true, {}, ['dark'], 'x'.repeat(11)]) {
      let error: unknown;
      try {
        storage.parse({ vars: { [`${PREFS}.category_rx_state_`]: 'fine', [`${PREFS}.theme_rx_state_`]: bad } });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(BridgeError);
      expect((error as BridgeError).code).toBe('invalid_payload');
      expect((error as BridgeError).details?.[0]).toContain(`${PREFS}.theme_rx_state_`);
    }
    expect(() => storage.parse({ vars: 'theme=dark' })).toThrow(BridgeError);
    expect(storage.parse({}).size).toBe(0);
  });

  it('reads null (a key removed in another tab) as the initial value', async () => {
    const storage = await vars([PrefsState]);
    const update = storage.parse({ vars: { [`${PREFS}.draft_rx_state_`]: null } });
    expect([...update.values()].map((values) => ({ ...values }))).toEqual([{ draft: 'none' }]);
  });

  it('resets stored storage vars to their initial values, leaving the rest', async () => {
    const storage = await vars([PrefsState]);
    const stored = { [PREFS]: { theme: 'dark', category: 'Tea', plain: 'kept', sort: 'price' } };
    expect(storage.reset(stored)).toEqual({ [PREFS]: { theme: 'light', category: '', plain: 'kept', sort: 'price' } });
    expect(stored[PREFS].theme).toBe('dark');
    const untouched = { [PREFS]: { theme: 'light' } };
    expect(storage.reset(untouched)).toBe(untouched);
  });

  it('fails the startup on a backend var or a var that is not a string', async () => {
    await expect(vars([BackendVarState])).rejects.toThrow(/BackendVarState\._secret: a backend var/);
    await expect(vars([NumberVarState])).rejects.toThrow(/NumberVarState\.visits: client storage vars hold strings/);
  });

  it('fails the startup on two vars kept under one name in one browser store, naming both', async () => {
    // One browser cookie would carry both vars: each write would overwrite the other var's value.
    await expect(vars([PrefsState, AdminPrefsState])).rejects.toThrow('PrefsState.theme and AdminPrefsState.theme are both kept in cookies as "theme"');
    // The same name in another store (localStorage) is another key: AdminPrefsState alone starts.
    await expect(vars([AdminPrefsState])).resolves.toBeInstanceOf(ClientStorageVars);
  });
});
