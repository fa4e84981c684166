import { describe, expect, it } from '@jest/globals';
import type { ExecutionContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { RequestHandler } from 'express';
import { RESOLVED_OPTIONS } from '../../reflex-bridge.module-definition.js';
import { resolveOptions, type ReflexBridgeModuleOptions } from '../../reflex-bridge.options.js';
import { FullTierGuard } from './full-tier.guard.js';
import { SessionHandoff } from '../session/session-handoff.service.js';
import { SyntheticRequest } from '../request/synthetic-request.js';
import { SyntheticResponse } from '../request/synthetic-response.js';
import type { TierEvent } from './tier-execution-context.js';

function contextMock(request: SyntheticRequest) {
  const response = new SyntheticResponse();
  const event = { tier: 'full', request, response } as TierEvent;
  const args = [request, response, event];
  const context = {
    getType: () => 'reflex',
    getArgByIndex: (index: number) => args[index],
    getArgs: () => args,
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => response, getNext: () => undefined }),
  } as unknown as ExecutionContext;
  return { context, event };
}

const newRequest = () => new SyntheticRequest({ path: '/', query: {}, headers: {}, ip: '::1', remoteAddress: '::1', secure: false });

async function guardWith(options: ReflexBridgeModuleOptions): Promise<FullTierGuard> {
  const moduleRef = await Test.createTestingModule({
    providers: [FullTierGuard, { provide: RESOLVED_OPTIONS, useValue: resolveOptions(options) }, { provide: SessionHandoff, useValue: { watchLogout: () => undefined } }],
  }).compile();
  return moduleRef.get(FullTierGuard);
}

const marking =
  (name: string): RequestHandler =>
  (req, _res, next) => {
    const request = req as unknown as SyntheticRequest;
    request.seen = [...((request.seen as string[] | undefined) ?? []), name];
    next();
  };

describe('FullTierGuard', () => {
  it('runs the auth middleware, then the full middleware, in order, synchronously when they were', async () => {
    const guard = await guardWith({ bridge: { authMiddleware: [marking('session'), marking('passport')], fullMiddleware: [marking('locale')] } });
    const request = newRequest();
    expect(guard.canActivate(contextMock(request).context)).toBe(true);
    expect(request.seen).toEqual(['session', 'passport', 'locale']);
  });

  it('stops at a full middleware that redirects: false, with the redirect on the event', async () => {
    const members: RequestHandler = (_req, res) => res.redirect(303, '/login?next=/members');
    const after = marking('after');
    const guard = await guardWith({ bridge: { fullMiddleware: [members, after] } });
    const request = newRequest();
    const { context, event } = contextMock(request);
    expect(guard.canActivate(context)).toBe(false);
    expect(event.redirect).toMatchObject({ payload: { path: '/login?next=/members' } });
    expect(request.seen).toBeUndefined();
  });

  it('fails with the error a middleware passed to next(err)', async () => {
    const failing: RequestHandler = (_req, _res, next) => next(new Error('locale table missing'));
    const guard = await guardWith({ bridge: { fullMiddleware: [failing] } });
    await expect(guard.canActivate(contextMock(newRequest()).context)).rejects.toThrow('locale table missing');
  });
});
