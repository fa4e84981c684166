import { createHmac } from 'node:crypto';
import { describe, expect, it, jest } from '@jest/globals';
import type { ExecutionContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { RequestHandler } from 'express';
import { EventCacheService } from '../../cache/event-cache.service.js';
import { BridgeMetrics } from '../../metrics/bridge-metrics.service.js';
import { BridgeError } from '../../protocol/bridge-error.js';
import { RESOLVED_OPTIONS } from '../../reflex-bridge.module-definition.js';
import { resolveOptions, type ReflexBridgeModuleOptions } from '../../reflex-bridge.options.js';
import { AuthOnlyTierGuard } from './auth-only-tier.guard.js';
import { FastAuthRequest } from '../session/fast-auth.js';
import { SessionHandoff } from '../session/session-handoff.service.js';
import { SyntheticRequest } from '../request/synthetic-request.js';
import { SyntheticResponse } from '../request/synthetic-response.js';
import type { TierEvent } from './tier-execution-context.js';
import { isCollected } from '../../common/collectable.spec.support.js';

const SECRET = 'auth-only guard spec';

function signedCookie(id: string): string {
  const value = `s:${id}.${createHmac('sha256', SECRET).update(id).digest('base64').replace(/=+$/, '')}`;
  return `connect.sid=${encodeURIComponent(value)}`;
}

/** A hand-made context over a request and response, as @nestjs/throttler tests its guard. */
function contextMock(request: SyntheticRequest, response = new SyntheticResponse()) {
  const event = { tier: 'auth_only', request, response } as TierEvent;
  const args = [request, response, event];
  const context = {
    getType: () => 'reflex',
    getArgByIndex: (index: number) => args[index],
    getArgs: () => args,
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => response, getNext: () => undefined }),
    switchToWs: () => ({ getPattern: () => 'root.account_state.whoami', getData: () => ({}), getClient: () => undefined }),
  } as unknown as ExecutionContext;
  return { context, event, response };
}

const init = (cookie?: string) => ({ path: '/', query: {}, headers: (cookie ? { cookie } : {}) as Record<string, string>, ip: '::1', remoteAddress: '::1', secure: false });

async function setup(options: ReflexBridgeModuleOptions, guardClass: typeof AuthOnlyTierGuard = AuthOnlyTierGuard) {
  const session = { watchLogout: jest.fn() };
  const moduleRef = await Test.createTestingModule({
    providers: [
      { provide: AuthOnlyTierGuard, useClass: guardClass },
      { provide: RESOLVED_OPTIONS, useValue: resolveOptions(options) },
      { provide: SessionHandoff, useValue: session },
      EventCacheService,
      BridgeMetrics,
    ],
  }).compile();
  return { guard: moduleRef.get(AuthOnlyTierGuard), cache: moduleRef.get(EventCacheService), session };
}

const settingUser: RequestHandler = (req, _res, next) => {
  (req as unknown as SyntheticRequest).user = { id: 1 };
  (req as unknown as SyntheticRequest).sessionID = 'sid-1';
  next();
};

describe('AuthOnlyTierGuard', () => {
  it('runs the auth middleware on the request and answers true synchronously when every middleware was', async () => {
    const { guard, session } = await setup({ bridge: { authMiddleware: [settingUser] } });
    const request = new SyntheticRequest(init());
    const { context } = contextMock(request);
    expect(guard.canActivate(context)).toBe(true);
    expect(request.user).toEqual({ id: 1 });
    expect(session.watchLogout).toHaveBeenCalledWith(request);
  });

  it('records a middleware redirect on the event and answers false', async () => {
    const toLogin: RequestHandler = (_req, res) => res.redirect('/login');
    const { guard } = await setup({ bridge: { authMiddleware: [toLogin] } });
    const { context, event } = contextMock(new SyntheticRequest(init()));
    expect(guard.canActivate(context)).toBe(false);
    expect(event.redirect).toMatchObject({ payload: { path: '/login' } });
  });

  it('throws the structured error of a middleware that answered with an error status', async () => {
    const refuse: RequestHandler = (_req, res) => void res.status(401).json({ message: 'Log in first.' });
    const { guard } = await setup({ bridge: { authMiddleware: [refuse] } });
    const { context } = contextMock(new SyntheticRequest(init()));
    expect(() => guard.canActivate(context)).toThrow(BridgeError);
    try {
      void guard.canActivate(contextMock(new SyntheticRequest(init())).context);
    } catch (error) {
      expect((error as BridgeError).toPayload()).toMatchObject({ code: 'unauthorized', message: 'Log in first.', status: 401 });
    }
  });

  it('takes the fast path on a fresh snapshot: no middleware, synchronously, and marks the event', async () => {
    const middleware = jest.fn<RequestHandler>((_req, _res, next) => next());
    const { guard, cache } = await setup({
      bridge: { authMiddleware: [middleware] },
      fastAuth: { sessionSecret: SECRET, loadUser: (id) => ({ id }) },
    });
    await cache.set('sid-9', { userId: 9, isAuthenticated: true });
    const request = new FastAuthRequest(init(signedCookie('sid-9')));
    const { context, event } = contextMock(request);
    expect(guard.canActivate(context)).toBe(true);
    expect(event.fastPath).toBe(true);
    expect(request.user).toEqual({ id: 9 });
    expect(middleware).not.toHaveBeenCalled();
  });

  it('leaves a fast-auth request holding its lazy session loader but nothing else of its event (a request may outlive it)', async () => {
    const { guard, cache } = await setup({ bridge: { authMiddleware: [settingUser] }, fastAuth: { sessionSecret: SECRET, loadUser: (id) => ({ id }) } });
    await cache.set('sid-9', { userId: 9, isAuthenticated: true });
    const request = new FastAuthRequest(init(signedCookie('sid-9')));
    const event = ((): WeakRef<TierEvent> => {
      const { context, event } = contextMock(request);
      expect(guard.canActivate(context)).toBe(true);
      return new WeakRef(event);
    })();
    expect(await isCollected(event)).toBe(true);
    // The kept request still loads its session through the auth chain.
    await (request.loadSession as () => Promise<unknown>)();
    expect(request.user).toEqual({ id: 1 });
  });

  it('falls back to the middleware on a fast-auth miss', async () => {
    const { guard } = await setup({ bridge: { authMiddleware: [settingUser] }, fastAuth: { sessionSecret: SECRET, loadUser: (id) => ({ id }) } });
    const request = new FastAuthRequest(init(signedCookie('unknown')));
    const { context, event } = contextMock(request);
    expect(guard.canActivate(context)).toBe(true);
    expect(event.fastPath).toBeUndefined();
    expect(request.user).toEqual({ id: 1 });
  });

  it('exposes hooks a subclass overrides: shouldSkip and getChain', async () => {
    const extra = jest.fn<RequestHandler>((_req, _res, next) => next());
    class Skipping extends AuthOnlyTierGuard {
      protected override shouldSkip(context: ExecutionContext): boolean {
        return context.switchToHttp().getRequest<SyntheticRequest>().headers['x-skip'] === 'yes';
      }
      protected override getChain(context: ExecutionContext): readonly RequestHandler[] {
        return [...super.getChain(context), extra];
      }
    }
    const { guard } = await setup({ bridge: { authMiddleware: [settingUser] } }, Skipping);
    expect(guard).toBeInstanceOf(Skipping);
    const skipped = new SyntheticRequest({ ...init(), headers: { 'x-skip': 'yes' } });
    expect(guard.canActivate(contextMock(skipped).context)).toBe(true);
    expect(skipped.user).toBeUndefined();
    expect(extra).not.toHaveBeenCalled();
    expect(guard.canActivate(contextMock(new SyntheticRequest(init())).context)).toBe(true);
    expect(extra).toHaveBeenCalledTimes(1);
  });

  it('answers with a promise when a middleware finishes later', async () => {
    const later: RequestHandler = (_req, _res, next) => void setImmediate(next);
    const { guard } = await setup({ bridge: { authMiddleware: [later] } });
    const answer = guard.canActivate(contextMock(new SyntheticRequest(init())).context);
    expect(answer).toBeInstanceOf(Promise);
    await expect(answer).resolves.toBe(true);
  });
});
