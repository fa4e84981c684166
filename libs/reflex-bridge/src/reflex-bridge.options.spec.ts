import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { resolveOptions } from './reflex-bridge.options.js';

describe('resolveOptions', () => {
  it('applies the defaults', () => {
    const options = resolveOptions();
    expect(options).toMatchObject({
      path: '/_event',
      maxMessageBytes: 1_000_000,
      maxOutboundBytes: 16_000_000,
      maxTotalOutboundBytes: 256_000_000,
      stateTtlSeconds: 3600,
      preset: 'default',
      bridge: { mode: 'full', authAutoSync: true, mirrors: { flash: true, csrf: true, language: true } },
      eventCache: { ttlSeconds: 60, keyPrefix: 'rx:event:' },
    });
    expect(options.fastAuth).toBeUndefined();
    expect(options.metrics).toBeUndefined();
  });

  it('lean preset: turns off auto-sync and mirrors the app left unset', () => {
    const options = resolveOptions({ preset: 'lean' });
    expect(options.bridge.authAutoSync).toBe(false);
    expect(options.bridge.mirrors).toEqual({ flash: false, csrf: false, language: false });
  });

  it('lean preset: keeps every value the app set explicitly, true or false', () => {
    const options = resolveOptions({ preset: 'lean', bridge: { authAutoSync: true, mirrors: { csrf: true, language: false } } });
    expect(options.bridge.authAutoSync).toBe(true);
    expect(options.bridge.mirrors).toEqual({ flash: false, csrf: true, language: false });
    const plain = resolveOptions({ bridge: { authAutoSync: false, mirrors: { flash: false } } });
    expect(plain.bridge.authAutoSync).toBe(false);
    expect(plain.bridge.mirrors).toEqual({ flash: false, csrf: true, language: true });
  });

  it('names the option when a value is invalid', () => {
    expect(() => resolveOptions({ preset: 'tiny' as never })).toThrow('invalid option "preset"');
    expect(() => resolveOptions({ bridge: { mode: 'sometimes' as never } })).toThrow('invalid option "bridge.mode"');
    expect(() => resolveOptions({ eventCache: { ttlSeconds: -1 } })).toThrow('invalid option "eventCache.ttlSeconds"');
    expect(() => resolveOptions({ fastAuth: { sessionSecret: '', loadUser: () => undefined } })).toThrow('invalid option "fastAuth.sessionSecret"');
    expect(() => resolveOptions({ fastAuth: { sessionSecret: 's' } as never })).toThrow('invalid option "fastAuth.loadUser"');
    expect(() => resolveOptions({ metrics: { registry: {} as never } })).toThrow('invalid option "metrics.registry"');
    expect(() => resolveOptions({ path: 'no-slash' })).toThrow('invalid option "path"');
    expect(() => resolveOptions({ cookieHandoffPath: '/_event/cookie' })).toThrow('invalid option "cookieHandoffPath"');
    expect(() => resolveOptions({ bridge: { authMiddleware: ['x' as never] } })).toThrow('invalid option "bridge.authMiddleware"');
    expect(() => resolveOptions({ bridge: { withheldHeaders: 'x-secret' as never } })).toThrow('invalid option "bridge.withheldHeaders"');
    expect(() => resolveOptions({ bridge: { withheldHeaders: ['x ok'] } })).toThrow('invalid option "bridge.withheldHeaders"');
    expect(() => resolveOptions({ maxInMemoryStateBytes: 0 })).toThrow('invalid option "maxInMemoryStateBytes"');
    for (const redisMemoryLimitBytes of [0, -1, Number.NaN, true, '1gb']) {
      expect(() => resolveOptions({ redisMemoryLimitBytes: redisMemoryLimitBytes as never })).toThrow('invalid option "redisMemoryLimitBytes"');
    }
    expect(resolveOptions({}).redisMemoryLimitBytes).toBe('auto');
    expect(resolveOptions({ redisMemoryLimitBytes: false }).redisMemoryLimitBytes).toBe(false);
    expect(resolveOptions({ redisMemoryLimitBytes: 5e8 }).redisMemoryLimitBytes).toBe(5e8);
    expect(() => resolveOptions({ maxTotalOutboundBytes: -1 })).toThrow('invalid option "maxTotalOutboundBytes"');
  });

  it('takes header names to withhold from the router var in any case, as Node gives them (lower case)', () => {
    expect(resolveOptions({ bridge: { withheldHeaders: ['X-Origin-Verify'] } }).bridge.withheldHeaders).toEqual(['x-origin-verify']);
    expect(resolveOptions().bridge.withheldHeaders).toBeUndefined();
  });

  it('normalises corsOrigins to origins and refuses entries that are not origins', () => {
    expect(resolveOptions({ corsOrigins: ['http://localhost:3000/', 'HTTPS://App.Example.com:443'] }).corsOrigins).toEqual(['http://localhost:3000', 'https://app.example.com']);
    expect(resolveOptions({ corsOrigins: true }).corsOrigins).toBe(true);
    expect(resolveOptions({}).corsOrigins).toBeUndefined();
    for (const bad of ['*', 'null', 'localhost:3000', 'https://app.example.com/app', 'https://app.example.com?x=1', 'https://user@app.example.com']) {
      expect(() => resolveOptions({ corsOrigins: ['http://ok.example', bad] })).toThrow('invalid option "corsOrigins[1]"');
    }
    expect(() => resolveOptions({ corsOrigins: 'https://app.example.com' as never })).toThrow('invalid option "corsOrigins"');
  });

  it('limits each client\'s queue to 100 events and 4,000,000 bytes unless told otherwise, and names a bad limit', () => {
    expect(resolveOptions()).toMatchObject({ maxQueuedEvents: 100, maxQueuedBytes: 4_000_000 });
    expect(resolveOptions({ maxQueuedEvents: 10, maxQueuedBytes: 50_000 })).toMatchObject({ maxQueuedEvents: 10, maxQueuedBytes: 50_000 });
    for (const bad of [0, -1, 1.5, Number.POSITIVE_INFINITY, '100' as never]) {
      expect(() => resolveOptions({ maxQueuedEvents: bad })).toThrow('invalid option "maxQueuedEvents"');
      expect(() => resolveOptions({ maxQueuedBytes: bad })).toThrow('invalid option "maxQueuedBytes"');
    }
  });

  it('gives a live token\'s holder 2 s to leave unless told otherwise; 0 is allowed, and a bad grace is named', () => {
    expect(resolveOptions().tokenHandoverGraceMs).toBe(2_000);
    expect(resolveOptions({ tokenHandoverGraceMs: 0 }).tokenHandoverGraceMs).toBe(0);
    expect(resolveOptions({ tokenHandoverGraceMs: 500 }).tokenHandoverGraceMs).toBe(500);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, '2000' as never]) {
      expect(() => resolveOptions({ tokenHandoverGraceMs: bad })).toThrow('invalid option "tokenHandoverGraceMs"');
    }
  });

  it('waits up to 10 s for running events at shutdown unless told otherwise; 0 is allowed, and a bad grace is named', () => {
    expect(resolveOptions().shutdownGraceMs).toBe(10_000);
    expect(resolveOptions({ shutdownGraceMs: 0 }).shutdownGraceMs).toBe(0);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, '2000' as never]) {
      expect(() => resolveOptions({ shutdownGraceMs: bad })).toThrow('invalid option "shutdownGraceMs"');
    }
  });

  it('accepts metrics as true or as an object', () => {
    expect(resolveOptions({ metrics: true }).metrics).toEqual({ logger: 'ReflexBridgeMetrics', log: true, registry: undefined });
    expect(resolveOptions({ metrics: { logger: 'shop.performance' } }).metrics?.logger).toBe('shop.performance');
  });

  it('sessionStore: defaults to the module redisUrl and the "sess:" prefix, reads the database from the URL', () => {
    expect(resolveOptions().sessionStore).toBeUndefined();
    expect(resolveOptions({ redisUrl: 'redis://cache:6379', sessionStore: {} }).sessionStore).toEqual({
      redisUrl: 'redis://cache:6379',
      prefix: 'sess:',
      configureNotifications: true,
      database: 0,
    });
    expect(resolveOptions({ sessionStore: { redisUrl: 'redis://sessions:6379/3', prefix: 'shop:sess:', configureNotifications: false } }).sessionStore).toEqual({
      redisUrl: 'redis://sessions:6379/3',
      prefix: 'shop:sess:',
      configureNotifications: false,
      database: 3,
    });
  });

  it('sessionStore: invalid values fail at startup naming the field', () => {
    expect(() => resolveOptions({ sessionStore: {} })).toThrow(/"sessionStore.redisUrl": required/);
    expect(() => resolveOptions({ sessionStore: { redisUrl: 'http://x' } })).toThrow(/"sessionStore.redisUrl"/);
    expect(() => resolveOptions({ sessionStore: { redisUrl: 'redis://x/abc' } })).toThrow(/"sessionStore.redisUrl"/);
    expect(() => resolveOptions({ redisUrl: 'redis://x', sessionStore: { prefix: '' } })).toThrow(/"sessionStore.prefix"/);
    expect(() => resolveOptions({ redisUrl: 'redis://x', sessionStore: { configureNotifications: 'yes' as never } })).toThrow(/"sessionStore.configureNotifications"/);
    expect(() => resolveOptions({ redisUrl: 'redis://x', sessionStore: { db: 1 } as never })).toThrow(/"sessionStore.db": unknown option/);
  });

  describe('wrong types stop startup, naming the option', () => {
    /** Options built from one value at the named place (`bridge.mirrors.flash` → `{ bridge: { mirrors: { flash } } }`). */
    const at = (name: string, value: unknown): Record<string, unknown> =>
      name.split('.').reduceRight<unknown>((inner, key) => ({ [key]: inner }), value) as Record<string, unknown>;
    const fastAuth = { sessionSecret: 's', loadUser: () => undefined };
    const notBoolean = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.boolean()), fc.object());
    const booleans = ['isGlobal', 'production', 'bridge.authAutoSync', 'bridge.trustProxy', 'bridge.asyncContext', 'bridge.mirrors.flash', 'bridge.mirrors.csrf', 'bridge.mirrors.language', 'metrics.log', 'devtools.logAdviceOnShutdown'];

    it('a boolean option given anything but true or false, such as the string "false" a config service returns', () => {
      for (const name of booleans) {
        expect(() => resolveOptions(at(name, 'false'))).toThrow(`invalid option "${name}"`);
        fc.assert(fc.property(notBoolean, (value) => {
          expect(() => resolveOptions(at(name, value))).toThrow(`invalid option "${name}"`);
        }));
      }
    });

    it('keeps true and false as given', () => {
      for (const value of [true, false]) {
        const options = resolveOptions({ bridge: { trustProxy: value, authAutoSync: value, asyncContext: value, mirrors: { flash: value, csrf: value, language: value } } });
        expect(options.bridge).toMatchObject({ trustProxy: value, authAutoSync: value, asyncContext: value, mirrors: { flash: value, csrf: value, language: value } });
      }
    });

    it('a function option given something else', () => {
      const notFunction = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.object());
      fc.assert(fc.property(notFunction, (value) => {
        expect(() => resolveOptions({ bridge: { usernameOf: value as never } })).toThrow('invalid option "bridge.usernameOf"');
        expect(() => resolveOptions({ fastAuth: { ...fastAuth, userIdOf: value as never } })).toThrow('invalid option "fastAuth.userIdOf"');
        expect(() => resolveOptions({ fastAuth: { ...fastAuth, loadUser: value as never } })).toThrow('invalid option "fastAuth.loadUser"');
      }));
    });

    it('bridge.redirectStatuses given anything but an array of 3xx statuses', () => {
      expect(resolveOptions({ bridge: { redirectStatuses: [302] } }).bridge.redirectStatuses).toEqual([302]);
      for (const bad of ['302', 302, [200], ['302'], [302.5], null]) {
        expect(() => resolveOptions({ bridge: { redirectStatuses: bad as never } })).toThrow('invalid option "bridge.redirectStatuses"');
      }
    });

    it('a string option given something else', () => {
      for (const bad of [5, '', 'a b', null, true]) {
        expect(() => resolveOptions({ fastAuth: { ...fastAuth, sessionCookieName: bad as never } })).toThrow('invalid option "fastAuth.sessionCookieName"');
      }
      for (const bad of [5, '', null]) {
        expect(() => resolveOptions({ metrics: { logger: bad as never } })).toThrow('invalid option "metrics.logger"');
      }
    });

    it('a section given something other than an object', () => {
      for (const name of ['bridge', 'bridge.mirrors', 'eventCache', 'fastAuth', 'metrics']) {
        for (const bad of [null, 'yes', 1, []]) {
          expect(() => resolveOptions(at(name, bad))).toThrow(`invalid option "${name}"`);
        }
      }
      expect(() => resolveOptions({ stateStore: null as never })).toThrow('invalid option "stateStore"');
    });
  });
});
