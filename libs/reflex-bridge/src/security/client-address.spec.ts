import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { IncomingMessage } from 'node:http';
import { addressKey, addressKeyingOf, clientIp, requestAddressKey } from './client-address.js';

describe('client address', () => {
  it('takes the last X-Forwarded-For entry only behind a trusted proxy, repeated headers joined as Node joins them', () => {
    expect(clientIp('1.2.3.4, 5.6.7.8', '10.0.0.9', false)).toBe('10.0.0.9');
    expect(clientIp('1.2.3.4, 5.6.7.8', '10.0.0.9', true)).toBe('5.6.7.8');
    expect(clientIp(['1.2.3.4', '5.6.7.8 '], '10.0.0.9', true)).toBe('5.6.7.8');
    expect(clientIp(undefined, '10.0.0.9', true)).toBe('10.0.0.9');
    expect(clientIp('', '10.0.0.9', true)).toBe('10.0.0.9');
  });

  it('drops the source port a proxy appends, so that every connection of a client counts under one address', () => {
    const forged = fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 20 }).filter((text) => !text.includes(',')));
    fc.assert(
      fc.property(fc.array(forged, { maxLength: 3 }), fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 1, max: 65_535 }), fc.integer({ min: 1, max: 65_535 }), (earlier, ip, portA, portB) => {
        const written = (port: number) => [...earlier, ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`].join(', ');
        expect(clientIp(written(portA), '10.0.0.9', true)).toBe(ip);
        expect(addressKey(clientIp(written(portA), '10.0.0.9', true), 64)).toBe(addressKey(clientIp(written(portB), '10.0.0.9', true), 64));
        // Without a port, as nginx writes it: the entry as it is.
        expect(clientIp([...earlier, ip].join(', '), '10.0.0.9', true)).toBe(ip);
      }),
    );
    expect(clientIp('1.2.3.4, [2001:db8::7]', '10.0.0.9', true)).toBe('2001:db8::7');
  });

  it('groups IPv6 addresses by the subnet prefix, and counts IPv4-mapped addresses as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1', 64)).toBe(addressKey('2001:db8:1:2:bbbb::2', 64));
    expect(addressKey('2001:db8:1:2::1', 64)).not.toBe(addressKey('2001:db8:1:3::1', 64));
    expect(addressKey('::ffff:127.0.0.2', 64)).toBe('127.0.0.2');
    expect(addressKey('127.0.0.1', 64)).toBe('127.0.0.1');
  });

  it("keys a request by the options' trustProxy and IPv6 prefix, as every per-address limit (and the lingering close's share) does", () => {
    const request = (forwardedFor: string | undefined, remoteAddress: string) => ({ headers: { 'x-forwarded-for': forwardedFor }, socket: { remoteAddress } }) as unknown as IncomingMessage;
    const direct = addressKeyingOf({ bridge: { trustProxy: false }, rateLimit: { ipv6SubnetPrefix: 64 } } as Parameters<typeof addressKeyingOf>[0]);
    const proxied = addressKeyingOf({ bridge: { trustProxy: true }, rateLimit: { ipv6SubnetPrefix: 48 } } as Parameters<typeof addressKeyingOf>[0]);
    expect(direct).toEqual({ trustProxy: false, ipv6SubnetPrefix: 64 });
    expect(requestAddressKey(request('203.0.113.7', '10.0.0.9'), direct)).toBe('10.0.0.9');
    expect(requestAddressKey(request('198.51.100.1, 203.0.113.7:51234', '10.0.0.9'), proxied)).toBe('203.0.113.7');
    expect(requestAddressKey(request('2001:db8:1:2::1', '10.0.0.9'), proxied)).toBe(requestAddressKey(request('2001:db8:1:ffff::2', '10.0.0.9'), proxied));
  });
});
