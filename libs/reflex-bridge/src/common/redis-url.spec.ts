import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { InvalidOptionError } from '../invalid-option.error.js';
import { resolveOptions } from '../reflex-bridge.options.js';
import { assertRedisUrl } from './redis-url.js';

function messageOf(run: () => void): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return (error as Error).message;
  }
  throw new Error('expected an InvalidOptionError');
}

describe('assertRedisUrl', () => {
  it('accepts undefined and redis:// or rediss:// URLs', () => {
    expect(() => assertRedisUrl('redisUrl', undefined)).not.toThrow();
    expect(() => assertRedisUrl('redisUrl', 'redis://localhost:6379')).not.toThrow();
    expect(() => assertRedisUrl('redisUrl', 'rediss://user:pw@cache:6380/2')).not.toThrow();
  });

  it('says an empty string (an empty REDIS_URL= in a .env file) is what it got, and how to mean in-memory', () => {
    for (const resolve of [() => resolveOptions({ redisUrl: '' }), () => resolveOptions({ eventCache: { redisUrl: '' } })]) {
      const message = messageOf(resolve);
      expect(message).toMatch(/invalid option "(eventCache\.)?redisUrl"/);
      expect(message).toContain('got "" (an empty string');
      expect(message).toContain('leave it undefined to keep everything in memory');
    }
  });

  it('names the type of a value that is not a string', () => {
    expect(messageOf(() => assertRedisUrl('redisUrl', 6379))).toContain('got number');
    expect(messageOf(() => assertRedisUrl('redisUrl', null))).toContain('got null');
  });

  it('never repeats a refused URL, which may hold a password', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f]{12,40}$/), (secret) => {
        const message = messageOf(() => assertRedisUrl('redisUrl', `http://user:${secret}@cache:6379`));
        expect(message).not.toContain(secret);
        expect(message).toContain('redis:// or rediss://');
      }),
    );
  });
});
