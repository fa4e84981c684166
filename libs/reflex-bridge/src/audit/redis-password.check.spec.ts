import { describe, expect, it } from '@jest/globals';
import { redisWithoutPassword } from './redis-password.check.js';

describe('redisWithoutPassword', () => {
  it('names a Redis on another host reached without a password, by host and port only', () => {
    expect(redisWithoutPassword(['redis://10.0.0.5:6379', 'rediss://cache.internal', 'redis://user@10.0.0.6:7000/2'])).toEqual([
      '10.0.0.5:6379',
      'cache.internal:6379',
      '10.0.0.6:7000',
    ]);
  });

  it('leaves a URL with a password, this machine, another scheme, an unset or unparsable one', () => {
    expect(
      redisWithoutPassword([
        'redis://:s3cret@10.0.0.5:6379',
        'rediss://app:s3cret@cache.internal:6380',
        'redis://127.0.0.1:6379',
        'redis://127.12.0.9:6379',
        'redis://localhost:6379',
        'redis://[::1]:6379',
        'unix:///run/redis.sock',
        undefined,
        'not a url',
      ]),
    ).toEqual([]);
  });

  it('names each address once', () => {
    expect(redisWithoutPassword(['redis://10.0.0.5:6379', 'redis://10.0.0.5:6379/1'])).toEqual(['10.0.0.5:6379']);
  });
});
