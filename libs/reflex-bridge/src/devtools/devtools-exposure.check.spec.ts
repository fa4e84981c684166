import { describe, expect, it } from '@jest/globals';
import { isLoopbackAddress } from './devtools-exposure.check.js';

describe('isLoopbackAddress', () => {
  it('takes loopback, IPv4-mapped included, as only this machine', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '::FFFF:127.0.0.1']) expect({ address, loopback: isLoopbackAddress(address) }).toEqual({ address, loopback: true });
  });

  it('takes every other address as reachable from other machines', () => {
    for (const address of ['::', '0.0.0.0', '192.168.1.20', '10.0.0.1', 'fe80::1', '::ffff:10.0.0.1', '1127.0.0.1', '127.0.0.1.5']) expect({ address, loopback: isLoopbackAddress(address) }).toEqual({ address, loopback: false });
  });
});
