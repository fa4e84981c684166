import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import session from 'express-session';
import { ReflexBridgeModule, ReflexStateService } from '@reflex-bridge/nest';
import { EventPipeline } from '../libs/reflex-bridge/src/pipeline/event-pipeline.service.js';
import { FilterState, createAuthStack, mountHttpAuth } from './fixtures/auth-app.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { until } from './support/eventually.js';

const FILTER = 'reflex___state____state.filter_state';
const HYDRATE = 'reflex___state____state.hydrate';

/**
 * The app's session store, which the test holds: armed, its next read waits until the test releases it (or until the
 * store is closed, which fails it as a closed Redis client fails the commands it still waits for). Counts every call
 * made after the app closed it.
 */
class HeldSessionStore extends session.MemoryStore {
  closed = false;
  callsAfterClose = 0;
  readsFailedByClose = 0;
  private holdNext = false;
  private held?: () => void;
  private failHeld?: () => void;

  /** The next `get` waits for {@link release}. */
  holdNextRead(): void {
    this.holdNext = true;
  }

  /** True once a held read is waiting. */
  get holding(): boolean {
    return this.held !== undefined;
  }

  release(): void {
    this.held?.();
  }

  close(): void {
    this.closed = true;
    this.failHeld?.();
  }

  override get(sid: string, callback: (error: unknown, session?: session.SessionData | null) => void): void {
    if (this.closed) {
      this.callsAfterClose += 1;
      callback(new Error('The client is closed'));
      return;
    }
    if (!this.holdNext) return super.get(sid, callback);
    this.holdNext = false;
    let settled = false;
    this.held = () => {
      if (settled) return;
      settled = true;
      super.get(sid, callback);
    };
    this.failHeld = () => {
      if (settled) return;
      settled = true;
      this.readsFailedByClose += 1;
      callback(new Error('The client is closed'));
    };
  }

  override set(sid: string, data: session.SessionData, callback?: (error?: unknown) => void): void {
    if (this.closed) this.callsAfterClose += 1;
    super.set(sid, data, callback);
  }

  override touch(sid: string, data: session.SessionData, callback?: () => void): void {
    if (this.closed) this.callsAfterClose += 1;
    super.touch(sid, data, callback);
  }

  override destroy(sid: string, callback?: (error?: unknown) => void): void {
    if (this.closed) this.callsAfterClose += 1;
    super.destroy(sid, callback);
  }
}

/** The app provider owning the session store: it closes it in its own `onModuleDestroy`, as apps close a Redis client. */
@Injectable()
class SessionStoreOwner implements OnModuleDestroy {
  static store = new HeldSessionStore();

  onModuleDestroy(): void {
    SessionStoreOwner.store.close();
  }
}

describe("app.close() while a reconnecting tab's session is still being read", () => {
  const sockets: RawSocket[] = [];
  const apps: RunningApp[] = [];
  afterEach(async () => {
    SessionStoreOwner.store.release();
    for (const socket of sockets.splice(0)) socket.close();
    for (const running of apps.splice(0)) await running.close();
  });

  /**
   * An app whose session store the test holds, a logged-in tab whose token is bound to its session, closed (a reload),
   * and its next socket past the handshake, its session read held by the store, its hydrate event sent.
   */
  async function reconnectingDuringTheSessionRead(shutdownGraceMs: number) {
    const store = new HeldSessionStore();
    SessionStoreOwner.store = store;
    const logger = new CapturingLogger();
    const stack = createAuthStack({ store });
    const running = await startApp(
      { imports: [ReflexBridgeModule.forRoot({ shutdownGraceMs, bridge: { authMiddleware: stack.authMiddleware } })], providers: [FilterState, SessionStoreOwner] },
      (nest) => mountHttpAuth(nest, stack),
      logger,
    );
    apps.push(running);
    const login = await fetch(`${running.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'wonderland' }) });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const first = new RawSocket(running.url, undefined, { headers: { cookie } });
    sockets.push(first);
    await first.connected();
    await first.hydrate();
    // An event on the auth_only tier, run as alice:
    first.send(`${FILTER}.whoAsks`);
    await first.untilVar(FILTER, 'query', 'alice');
    // it bound the token to alice's session: only a socket of that session may take it.
    first.close();
    const pipeline = running.app.get(EventPipeline, { strict: false });
    await until(() => !pipeline.isBusy(first.token) && running.app.get(ReflexStateService).isConnected(first.token) === false, 'the first socket to leave');
    store.holdNextRead();
    const tab = new RawSocket(running.url, first.token, { headers: { cookie } });
    sockets.push(tab);
    await tab.connected();
    tab.send(HYDRATE);
    await until(() => store.holding, "the tab's session read to reach the store");
    const closed = running.close();
    apps.splice(0);
    await until(() => pipeline.shuttingDown, 'the drain to begin');
    return { store, logger, tab, closed };
  }

  /** What a user and an operator see: the tab told `server_stopping` and keeping its token, nothing logged as a fault. */
  async function expectACleanRefusal(tab: RawSocket, logger: CapturingLogger): Promise<void> {
    await tab.until(() => tab.errors.length > 0 || tab.newTokens.length > 0, 20_000, 'an answer to the held hydrate');
    // Before: the session read failed on the store the app closed, the bound token could not be proven the tab's, and
    // the tab was given a new token (its state gone for good once it reconnected elsewhere), with a warning logged.
    expect(tab.newTokens).toEqual([]);
    expect(tab.errors).toEqual([expect.objectContaining({ code: 'server_stopping', event: HYDRATE })]);
    await tab.until(() => !tab.socket.connected, 20_000, 'the connection to close for the tab to reconnect');
    expect(logger.lines.filter((line) => line.level === 'warn' || line.level === 'error')).toEqual([]);
  }

  it('waits for the read (the store answers during the drain) and answers the held event server_stopping: the store is never used after the app closed it', async () => {
    const { store, logger, tab, closed } = await reconnectingDuringTheSessionRead(30_000);
    // The drain is waiting for the read: the app has not closed its store.
    expect(store.closed).toBe(false);
    store.release();
    await closed;
    await expectACleanRefusal(tab, logger);
    expect(store).toMatchObject({ readsFailedByClose: 0, callsAfterClose: 0 });
  });

  it('a read the store never answers holds the close for shutdownGraceMs at most, then the tab is refused the same way', async () => {
    const { store, logger, tab, closed } = await reconnectingDuringTheSessionRead(300);
    // Never released: the app closes its store once the drain's grace has passed, which fails the read.
    await closed;
    expect(store.readsFailedByClose).toBe(1);
    await expectACleanRefusal(tab, logger);
  });
});
