import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { secretWeakness, signedSessionCookie } from './session-secret.check.js';

describe('secretWeakness', () => {
  it('names well-known defaults, whatever their case', () => {
    expect(secretWeakness('keyboard cat')?.kind).toBe('default');
    expect(secretWeakness('ChangeMe')?.kind).toBe('default');
    expect(secretWeakness('secret')?.kind).toBe('default');
  });

  it('calls short and repetitive secrets weak', () => {
    expect(secretWeakness('x7Gq-2Lp')).toEqual({ kind: 'weak', reason: expect.stringContaining('8 characters') });
    expect(secretWeakness('passwordpasswordpasswordpassword')?.reason).toContain('entropy');
    expect(secretWeakness('a'.repeat(64))?.kind).toBe('weak');
  });

  it('accepts hex secrets whose digits came up unevenly by chance', () => {
    // 32 hex digits drawn at random, about 90 bits by character frequencies: what one `openssl rand -hex 16` in 10,000 gives.
    expect(secretWeakness('2569dd949d95d8a4dd04954595b8dd99')).toBeUndefined();
  });

  it('accepts random secrets of 32 characters and more', () => {
    for (let i = 0; i < 50; i++) {
      expect(secretWeakness(randomBytes(24).toString('base64'))).toBeUndefined();
      expect(secretWeakness(randomBytes(16).toString('hex'))).toBeUndefined();
    }
  });
});

describe('signedSessionCookie', () => {
  it('signs as express-session does (cookie-signature)', () => {
    const signature = createRequire(import.meta.url)('cookie-signature') as { sign(value: string, secret: string): string };
    expect(signedSessionCookie('abc', 'keyboard cat')).toBe(`s:${signature.sign('abc', 'keyboard cat')}`);
  });
});
