import { describe, expect, it } from '@jest/globals';
import { InvalidOptionError } from '../invalid-option.error.js';
import { resolveOptions } from '../reflex-bridge.options.js';

describe('reflexRoutes option', () => {
  it('defaults to /ping and /_health under the prefix of the event path', () => {
    expect(resolveOptions().reflexRoutes).toEqual({ ping: '/ping', health: '/_health', checkTimeoutMs: 2000, checkIntervalMs: 1000 });
    expect(resolveOptions({ path: '/api/_event' }).reflexRoutes).toMatchObject({ ping: '/api/ping', health: '/api/_health' });
    expect(resolveOptions({ path: '/socket' }).reflexRoutes).toMatchObject({ ping: '/ping', health: '/_health' });
  });

  it('moves or turns off each route, or both', () => {
    expect(resolveOptions({ reflexRoutes: { ping: false, health: '/healthz', checkTimeoutMs: 500, checkIntervalMs: 0 } }).reflexRoutes).toEqual({ ping: undefined, health: '/healthz', checkTimeoutMs: 500, checkIntervalMs: 0 });
    expect(resolveOptions({ reflexRoutes: false }).reflexRoutes).toMatchObject({ ping: undefined, health: undefined });
  });

  it('refuses invalid values, naming the field', () => {
    const fieldOf = (reflexRoutes: unknown) => {
      try {
        resolveOptions({ reflexRoutes } as never);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidOptionError);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(fieldOf('yes')).toContain('reflexRoutes');
    expect(fieldOf({ ping: 'ping' })).toContain('reflexRoutes.ping');
    expect(fieldOf({ health: '/_event/health' })).toContain('reflexRoutes.health');
    expect(fieldOf({ ping: '/same', health: '/same' })).toContain('reflexRoutes.health');
    expect(fieldOf({ checkTimeoutMs: 0 })).toContain('reflexRoutes.checkTimeoutMs');
    expect(fieldOf({ checkIntervalMs: -1 })).toContain('reflexRoutes.checkIntervalMs');
    expect(fieldOf({ pong: '/x' })).toContain('reflexRoutes.pong');
  });
});
