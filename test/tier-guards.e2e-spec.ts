import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type ExecutionContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import type { RequestHandler } from 'express';
import {
  AuthOnlyTierGuard, BridgeTier, BridgeTierGuard, EventHandler, EventRequest, FullTierGuard, NoneTierGuard, ReflexBridgeModule, State,
  type SyntheticRequest,
} from '@reflex-bridge/nest';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';

const PAGE = 'reflex___state____state.page_state';

/** The app's auth middleware: marks every request it runs on. */
const auth: RequestHandler = (req, _res, next) => {
  (req as unknown as SyntheticRequest).chain = [...(((req as unknown as SyntheticRequest).chain as string[] | undefined) ?? []), 'auth'];
  next();
};

/** The app's auth_only guard: refuses sockets marked blocked, and adds its own middleware after the auth chain. */
@Injectable()
class GateGuard extends AuthOnlyTierGuard {
  override canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.switchToHttp().getRequest<SyntheticRequest>().headers['x-blocked'] === 'yes') return false;
    return super.canActivate(context);
  }

  protected override getChain(context: ExecutionContext): readonly RequestHandler[] {
    const gate: RequestHandler = (req, _res, next) => {
      (req as unknown as SyntheticRequest).chain = [...((req as unknown as SyntheticRequest).chain as string[]), 'gate'];
      next();
    };
    return [...super.getChain(context), gate];
  }
}

@State()
class PageState {
  seen = '';

  @EventHandler()
  @BridgeTier('auth_only')
  light(@EventRequest() request: SyntheticRequest): void {
    this.seen = ((request.chain as string[] | undefined) ?? []).join('+');
  }

  @EventHandler()
  heavy(@EventRequest() request: SyntheticRequest): void {
    this.seen = `full:${((request.chain as string[] | undefined) ?? []).join('+')}`;
  }
}

describe('tier guards from the app\'s container', () => {
  let running: RunningApp | undefined;
  const sockets: RawSocket[] = [];
  const connect = async (headers: Record<string, string> = {}) => {
    const socket = new RawSocket(running!.url, undefined, { headers });
    sockets.push(socket);
    await socket.connected();
    await socket.hydrate();
    return socket;
  };

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await running?.close();
    running = undefined;
  });

  async function expectGateGuardUsed(): Promise<void> {
    expect(running!.app.get(AuthOnlyTierGuard)).toBeInstanceOf(GateGuard);
    expect(running!.app.get(BridgeTierGuard)).toBeInstanceOf(BridgeTierGuard);
    expect(running!.app.get(FullTierGuard)).not.toBeInstanceOf(GateGuard);
    expect(running!.app.get(NoneTierGuard)).toBeInstanceOf(NoneTierGuard);

    const socket = await connect();
    socket.send(`${PAGE}.light`);
    await socket.untilVar(PAGE, 'seen', 'auth+gate');
    // The full tier keeps the built-in guard: the app's subclass only replaces auth_only.
    socket.send(`${PAGE}.heavy`);
    await socket.untilVar(PAGE, 'seen', 'full:auth');

    const blocked = await connect({ 'x-blocked': 'yes' });
    blocked.send(`${PAGE}.light`);
    await blocked.until(() => blocked.errors.length === 1);
    expect(blocked.errors[0]).toMatchObject({ code: 'forbidden', event: `${PAGE}.light`, status: 403 });
    expect(blocked.latest(PAGE, 'seen')).toBe('');
    blocked.send(`${PAGE}.heavy`);
    await blocked.untilVar(PAGE, 'seen', 'full:auth');
  }

  it('uses the subclass named in bridge.tierGuards for auth_only events', async () => {
    running = await startApp({
      imports: [ReflexBridgeModule.forRoot({ bridge: { mode: 'full', authMiddleware: [auth], tierGuards: { authOnly: GateGuard } } })],
      providers: [PageState],
    });
    await expectGateGuardUsed();
  });

  it('uses a subclass given through Nest\'s provider override', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ReflexBridgeModule.forRoot({ bridge: { mode: 'full', authMiddleware: [auth] } })],
      providers: [PageState],
    })
      .overrideProvider(AuthOnlyTierGuard)
      .useClass(GateGuard)
      .compile();
    const app = moduleRef.createNestApplication({ logger: ['error'] });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    running = { app, url: `http://127.0.0.1:${port}`, close: () => app.close() };
    await expectGateGuardUsed();
  });

  it('refuses at startup a tierGuards class that does not extend the guard it replaces', async () => {
    class NotAGuard {}
    await expect(
      startApp({
        imports: [ReflexBridgeModule.forRoot({ bridge: { tierGuards: { full: NotAGuard as never } } })],
        providers: [PageState],
      }),
    ).rejects.toThrow(/bridge\.tierGuards\.full.*FullTierGuard/);
  });
});
