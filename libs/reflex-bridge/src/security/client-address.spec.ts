import { describe, expect, it } from '@jest/globals';
import { addressKey, clientIp } from './client-address.js';

describe('client address', () => {
  it('takes the last X-Forwarded-For entry only behind a trusted proxy, repeated headers joined as Node joins them', () => {
    expect(clientIp('1.2.3.4, 5.6.7.8', '10.0.0.9', false)).toBe('10.0.0.9');
    expect(clientIp('1.2.3.4, 5.6.7.8', '10.0.0.9', true)).toBe('5.6.7.8');
    expect(clientIp(['1.2.3.4', '5.6.7.8 '], '10.0.0.9', true)).toBe('5.6.7.8');
    expect(clientIp(undefined, '10.0.0.9', true)).toBe('10.0.0.9');
    expect(clientIp('', '10.0.0.9', true)).toBe('10.0.0.9');
  });

  it('groups IPv6 addresses by the subnet prefix, and counts IPv4-mapped addresses as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1', 64)).toBe(addressKey('2001:db8:1:2:bbbb::2', 64));
    expect(addressKey('2001:db8:1:2::1', 64)).not.toBe(addressKey('2001:db8:1:3::1', 64));
    expect(addressKey('::ffff:127.0.0.2', 64)).toBe('127.0.0.2');
    expect(addressKey('127.0.0.1', 64)).toBe('127.0.0.1');
  });
});
