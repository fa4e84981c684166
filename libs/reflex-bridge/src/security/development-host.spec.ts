import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { isDevelopmentHostAllowed } from './development-host.js';

describe('isDevelopmentHostAllowed', () => {
  it('answers IP addresses and localhost, with or without a port, whatever the list', () => {
    for (const host of ['127.0.0.1', '127.0.0.1:3000', '10.1.2.3:8080', '[::1]:3000', '[::1]', 'localhost', 'LOCALHOST:3000', 'app.localhost:3000', 'localhost.']) {
      expect([host, isDevelopmentHostAllowed(host, [])]).toEqual([host, true]);
    }
  });

  it('refuses any other name unless listed: a rebinding site sends its own name as Host', () => {
    for (const host of ['attacker.example', 'attacker.example:3000', '127.0.0.1.nip.io', 'localhost.attacker.example', 'xlocalhost', undefined, '', 'a b', '[::1', 'host:port', 'localhost:3000:1']) {
      expect([host, isDevelopmentHostAllowed(host, [])]).toEqual([host, false]);
    }
    expect(isDevelopmentHostAllowed('dev.example:3000', ['dev.example'])).toBe(true);
    expect(isDevelopmentHostAllowed('api.dev.example', ['dev.example'])).toBe(false);
    expect(isDevelopmentHostAllowed('api.dev.example', ['.dev.example'])).toBe(true);
    expect(isDevelopmentHostAllowed('dev.example', ['.dev.example'])).toBe(true);
    expect(isDevelopmentHostAllowed('evildev.example', ['.dev.example'])).toBe(false);
  });

  it('never throws, and refuses every domain name it was not given', () => {
    fc.assert(
      fc.property(fc.string(), (host) => {
        const allowed = isDevelopmentHostAllowed(host, []);
        const name = host.trim().toLowerCase().replace(/:\d{1,5}$/, '').replace(/\.$/, '');
        if (allowed) expect(/^\[?[0-9a-f:.]+\]?$/.test(name) || name === 'localhost' || name.endsWith('.localhost')).toBe(true);
      }),
    );
    fc.assert(fc.property(fc.domain(), (domain) => expect(isDevelopmentHostAllowed(domain, [])).toBe(domain === 'localhost' || domain.endsWith('.localhost'))));
  });
});
