import { describe, expect, it } from '@jest/globals';
import { firstKeyOf } from './redis-cluster.client.js';

describe('firstKeyOf (how RedisClusterClient routes a raw command)', () => {
  it('routes a script call by its first key, and one without keys anywhere', () => {
    expect(firstKeyOf(['EVALSHA', 'abc', '2', 'rx:state:v2:{t}:lock', 'rx:state:v2:{t}', 'value'])).toBe('rx:state:v2:{t}:lock');
    expect(firstKeyOf(['eval', 'return 1', '1', 'k', 'a'])).toBe('k');
    expect(firstKeyOf(['EVAL', 'return 1', '0', 'not-a-key'])).toBeUndefined();
  });

  it('routes a key command by its first argument', () => {
    expect(firstKeyOf(['HGETALL', 'rx:state:v2:{t}'])).toBe('rx:state:v2:{t}');
    expect(firstKeyOf(['PING'])).toBeUndefined();
  });
});
