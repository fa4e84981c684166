import { describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Logger } from '@nestjs/common';
import fc from 'fast-check';
import { AddressConnectionLimit } from './address-connection-limit.js';

/** A TCP connection as the limit sees it: closes when told, records what was written to it. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  writable = true;
  written = '';
  constructor(readonly remoteAddress: string) {
    super();
  }
  end(data: string, done: () => void): void {
    this.written += data;
    this.writable = false;
    done();
  }
  close(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

function requestOn(socket: FakeSocket, headers: Record<string, string> = {}): IncomingMessage {
  return { socket, headers } as unknown as IncomingMessage;
}

function quietLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, warn: (message: string) => warnings.push(message) } as unknown as Logger & { warnings: string[] };
}

/** Runs the middleware on a WebSocket handshake of `socket`; resolves whether it let the request through. */
function handshake(limit: AddressConnectionLimit, socket: FakeSocket, headers?: Record<string, string>): boolean {
  let passed: boolean | undefined;
  limit.middleware(requestOn(socket, headers), {}, (error) => (passed = error === undefined));
  if (passed === undefined) throw new Error('the middleware did not call next');
  return passed;
}

describe('AddressConnectionLimit', () => {
  it('lets an address hold max connections, answers the next one 429 on its socket, and frees a place when one closes', () => {
    const logger = quietLogger();
    const limit = new AddressConnectionLimit(2, { trustProxy: false, ipv6SubnetPrefix: 64 }, logger);
    const first = new FakeSocket('203.0.113.7');
    const second = new FakeSocket('203.0.113.7');
    const third = new FakeSocket('203.0.113.7');
    expect(handshake(limit, first)).toBe(true);
    expect(handshake(limit, second)).toBe(true);
    expect(handshake(limit, third)).toBe(false);
    expect(third.written).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
    expect(third.written).toContain('Retry-After: 5\r\n');
    expect(JSON.parse(third.written.split('\r\n\r\n')[1]!)).toEqual(expect.objectContaining({ code: 'too_many_connections', limit: 2 }));
    // Another address is not affected.
    expect(handshake(limit, new FakeSocket('203.0.113.8'))).toBe(true);
    first.close();
    expect(handshake(limit, new FakeSocket('203.0.113.7'))).toBe(true);
    expect(logger.warnings).toHaveLength(1);
  });

  it('counts a keep-alive connection once, however many requests it sends', () => {
    const limit = new AddressConnectionLimit(1, { trustProxy: false, ipv6SubnetPrefix: 64 }, quietLogger());
    const socket = new FakeSocket('203.0.113.7');
    for (let i = 0; i < 5; i++) expect(handshake(limit, socket)).toBe(true);
    expect(limit.openFrom('203.0.113.7')).toBe(1);
    socket.close();
    expect(limit.addresses).toBe(0);
  });

  it('groups an IPv6 client by its subnet and, behind a trusted proxy, keys by the forwarded address', () => {
    const v6 = new AddressConnectionLimit(1, { trustProxy: false, ipv6SubnetPrefix: 64 }, quietLogger());
    expect(handshake(v6, new FakeSocket('2001:db8:1:2::1'))).toBe(true);
    expect(handshake(v6, new FakeSocket('2001:db8:1:2::ffff'))).toBe(false);
    const proxied = new AddressConnectionLimit(1, { trustProxy: true, ipv6SubnetPrefix: 64 }, quietLogger());
    expect(handshake(proxied, new FakeSocket('10.0.0.1'), { 'x-forwarded-for': '198.51.100.1' })).toBe(true);
    expect(handshake(proxied, new FakeSocket('10.0.0.1'), { 'x-forwarded-for': '198.51.100.2' })).toBe(true);
    expect(handshake(proxied, new FakeSocket('10.0.0.1'), { 'x-forwarded-for': 'forged, 198.51.100.1' })).toBe(false);
  });

  it('says so when refused requests come through a proxy while bridge.trustProxy is unset', () => {
    const logger = quietLogger();
    const limit = new AddressConnectionLimit(1, { trustProxy: false, ipv6SubnetPrefix: 64 }, logger);
    handshake(limit, new FakeSocket('10.0.0.1'), { 'x-forwarded-for': '198.51.100.1' });
    handshake(limit, new FakeSocket('10.0.0.1'), { 'x-forwarded-for': '198.51.100.2' });
    expect(logger.warnings).toEqual([expect.stringContaining('bridge.trustProxy is unset')]);
  });

  it('never lets an address past max open, refuses only at max, and forgets every address once its connections closed', () => {
    const command = fc.oneof(
      fc.record({ kind: fc.constant('open' as const), address: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('close' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(command, { maxLength: 80 }), (max, commands) => {
        const limit = new AddressConnectionLimit(max, { trustProxy: false, ipv6SubnetPrefix: 64 }, quietLogger());
        const live: FakeSocket[] = [];
        const openPer = (address: string) => live.filter((socket) => socket.remoteAddress === address).length;
        for (const step of commands) {
          if (step.kind === 'open') {
            const address = `192.0.2.${step.address}`;
            const before = openPer(address);
            const socket = new FakeSocket(address);
            const passed = handshake(limit, socket);
            expect(passed).toBe(before < max);
            if (passed) live.push(socket);
            else socket.close();
          } else if (live.length > 0) {
            live.splice(step.pick % live.length, 1)[0]!.close();
          }
          for (let a = 0; a < 4; a++) expect(limit.openFrom(`192.0.2.${a}`)).toBe(openPer(`192.0.2.${a}`));
        }
        for (const socket of live) socket.close();
        expect(limit.addresses).toBe(0);
      }),
    );
  });
});
