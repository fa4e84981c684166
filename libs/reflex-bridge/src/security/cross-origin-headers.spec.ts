import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { allowCrossOrigin } from './cross-origin-headers.js';
import type { OriginPolicy } from './origin-policy.js';

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
