import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { SessionCookieVerifier, unsignSessionCookie } from './signed-session-cookie.js';

/** A cookie value as express-session (cookie-signature) signs it. */
function signSessionId(id: string, secret: string): string {
  return `s:${id}.${createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, '')}`;
}

describe('unsignSessionCookie', () => {
  it('reads the id of a cookie signed with any of the secrets, and refuses forged or tampered ones', () => {
    expect(unsignSessionCookie(signSessionId('abc', 'old'), ['new', 'old'])).toBe('abc');
    expect(unsignSessionCookie(signSessionId('abc', 'other'), ['new', 'old'])).toBeUndefined();
    expect(unsignSessionCookie(signSessionId('abc', 'new').replace('abc', 'abd'), ['new'])).toBeUndefined();
    expect(unsignSessionCookie('abc', ['new'])).toBeUndefined();
    expect(unsignSessionCookie(undefined, ['new'])).toBeUndefined();
  });
});

describe('SessionCookieVerifier', () => {
  it('remembers verified values and answers them again without changing the answer', () => {
    const verifier = new SessionCookieVerifier(['secret']);
    const cookie = signSessionId('session-1', 'secret');
    expect(verifier.unsign(cookie)).toBe('session-1');
    expect(verifier.size).toBe(1);
    expect(verifier.unsign(cookie)).toBe('session-1');
    expect(verifier.size).toBe(1);
  });

  it('checks a different value again: a tampered copy of a remembered cookie is refused', () => {
    const verifier = new SessionCookieVerifier(['secret']);
    const cookie = signSessionId('session-1', 'secret');
    expect(verifier.unsign(cookie)).toBe('session-1');
    const tampered = cookie.replace('session-1', 'session-2');
    expect(verifier.unsign(tampered)).toBeUndefined();
    expect(verifier.unsign(`${cookie}x`)).toBeUndefined();
    expect(verifier.unsign(signSessionId('session-1', 'another secret'))).toBeUndefined();
  });

  it('never remembers a refused value, so forgeries cannot push verified ones out', () => {
    const verifier = new SessionCookieVerifier(['secret'], 2);
    const cookie = signSessionId('session-1', 'secret');
    verifier.unsign(cookie);
    for (let i = 0; i < 10; i++) expect(verifier.unsign(`s:forged-${i}.signature`)).toBeUndefined();
    expect(verifier.size).toBe(1);
    expect(verifier.unsign(cookie)).toBe('session-1');
  });

  it('is bounded: past the limit the oldest value is forgotten (and verified again when it comes back)', () => {
    const verifier = new SessionCookieVerifier(['secret'], 2);
    const [a, b, c] = ['a', 'b', 'c'].map((id) => signSessionId(id, 'secret'));
    verifier.unsign(a);
    verifier.unsign(b);
    verifier.unsign(c);
    expect(verifier.size).toBe(2);
    expect(verifier.unsign(a)).toBe('a');
    expect(verifier.size).toBe(2);
    expect(verifier.unsign(c)).toBe('c');
  });
});
