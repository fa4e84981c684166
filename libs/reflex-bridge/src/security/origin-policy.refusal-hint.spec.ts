import { afterEach, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { OriginPolicy } from './origin-policy.js';

const behindTlsProxy = (origin: string) => ({
  headers: { host: 'shop.example:8443', origin, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example:8443' },
  socket: { encrypted: false },
});

afterEach(() => {
  jest.restoreAllMocks();
});

it('blames the proxy only when the page is on HTTPS and the app sees HTTP, not for a page loaded over plain HTTP', () => {
  const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  const policy = new OriginPolicy({ trustProxy: true });

  const plainPage = policy.check(behindTlsProxy('http://shop.example:8443'));
  expect(plainPage).toMatchObject({ allowed: false, ownOrigin: 'https://shop.example:8443' });
  policy.reportRefusal(plainPage, 'the event socket');
  expect(String(warn.mock.calls[0][0])).toContain('the page was loaded over plain HTTP');
  expect(String(warn.mock.calls[0][0])).not.toContain('X-Forwarded-Proto');

  // The proxy did not send X-Forwarded-Proto: the app takes itself for http:// while the page is https://.
  const noProto = policy.check({ headers: { host: 'shop.example:8443', origin: 'https://shop.example:8443' }, socket: { encrypted: false } });
  policy.reportRefusal(noProto, 'the event socket');
  expect(String(warn.mock.calls[1][0])).toContain('does the proxy send X-Forwarded-Proto?');
});

it('logs a refused Origin with its C1 controls escaped: a header byte 0x85 (NEL) or 0x9b (CSI) cannot break or drive the log', () => {
  const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  const policy = new OriginPolicy({});
  // Node reads header bytes 0x80-0xff as latin1: C1 control characters, which JSON.stringify leaves as they are.
  const refused = policy.check({ headers: { host: 'shop.example', origin: 'https://evil.example\u0085[Nest] 1 - LOG [Auth] admin logged in\u009b2K' }, socket: {} });
  policy.reportRefusal(refused, 'the event socket');
  const line = String(warn.mock.calls[0][0]);
  expect(line).toContain('evil.example\\u0085[Nest]');
  expect(line).not.toMatch(/[\u0080-\u009f]/);
});
