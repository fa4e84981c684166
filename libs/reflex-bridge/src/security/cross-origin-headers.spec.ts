import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { allowCrossOrigin, answerPlainOptions } from './cross-origin-headers.js';
import { OriginPolicy } from './origin-policy.js';

const policy = { isListed: (origin: string) => origin === 'https://front.example' } as unknown as OriginPolicy;

function exchange(origin: string | undefined): { allowed: boolean; headers: Map<string, string> } {
  const headers = new Map<string, string>();
  const res = { setHeader: (name: string, value: string) => headers.set(name.toLowerCase(), value) } as unknown as ServerResponse;
  const req = { headers: origin === undefined ? {} : { origin } } as IncomingMessage;
  return { allowed: allowCrossOrigin(policy, req, res), headers };
}

describe('allowCrossOrigin', () => {
  it("lets a listed origin read the answer, its Retry-After included", () => {
    const { allowed, headers } = exchange('https://front.example');
    expect(allowed).toBe(true);
    expect(Object.fromEntries(headers)).toEqual({
      vary: 'Origin',
      'access-control-allow-origin': 'https://front.example',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'Retry-After',
    });
  });

  it('gives any other origin nothing but Vary', () => {
    for (const origin of ['https://evil.example', 'null', undefined]) {
      const { allowed, headers } = exchange(origin);
      expect(allowed).toBe(false);
      expect(Object.fromEntries(headers)).toEqual({ vary: 'Origin' });
    }
  });
});

describe('answerPlainOptions', () => {
  const policy = new OriginPolicy({ allowedOrigins: undefined, trustProxy: false });
  function options(origin: string | undefined): { answered: boolean; status?: number; headers: Map<string, string> } {
    const headers = new Map<string, string>();
    const res = { statusCode: 200, setHeader: (name: string, value: string) => headers.set(name.toLowerCase(), value), end: () => undefined } as unknown as ServerResponse;
    const req = { headers: { host: 'app.example', ...(origin === undefined ? {} : { origin }) }, socket: {} } as unknown as IncomingMessage;
    const answered = answerPlainOptions(policy, req, res, 'OPTIONS, POST');
    return { answered, status: answered ? res.statusCode : undefined, headers };
  }

  it('tells a request naming no origin, or the app\'s own, the methods, approving nothing', () => {
    for (const origin of [undefined, 'http://app.example']) {
      const { answered, status, headers } = options(origin);
      expect({ origin, answered, status }).toEqual({ origin, answered: true, status: 204 });
      expect(Object.fromEntries(headers)).toEqual({ vary: 'Origin', allow: 'OPTIONS, POST', 'cache-control': 'no-store' });
    }
  });

  it('leaves a preflight from an origin the policy refuses, "null" included, to the caller', () => {
    for (const origin of ['https://evil.example', 'null', '', 'https://app.example']) expect(options(origin)).toEqual({ answered: false, status: undefined, headers: new Map() });
  });
});
