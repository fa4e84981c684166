import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { BridgeTier, EventGateway, EventHandler, LiveBroadcaster, LiveList, ModelChange, PostgresTransport, ReflexBridgeModule, RedisTransport, State, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { Injectable, UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { ReflexClient } from '@reflex-bridge/client';
import { LiveListSubscriptions } from '../libs/reflex-bridge/src/live/live-list-subscriptions.service.js';
import { AccountState, createAuthStack, LoggedInGuard, mountHttpAuth, USERS, type DemoUser } from './fixtures/auth-app.js';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';
import { until } from './support/eventually.js';
import { describeWithRedis, RedisTestServer, type TestRedisClient } from './support/redis-server.js';
import session from 'express-session';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import type { RequestHandler } from 'express';
import { describeWithPostgres, PostgresTestServer } from './support/postgres-server.js';

const BOARD = 'reflex___state____state.board_state';
const ACCOUNT = 'reflex___state____state.account_state';
const LABEL = 'test.note';

interface Note {
  id: number;
  text: string;
  owner: string | null;
}

/** The "database": notes with an optional owner; a note with an owner is visible to that user only. */
const NOTES = new Map<number, Note>();
const visibleTo = (note: Note, user?: DemoUser) => note.owner === null || note.owner === user?.username;

@State()
@BridgeTier('auth_only')
class BoardState {
  @LiveList(LABEL)
  notes: Note[] = [];

  liveRow(change: ModelChange, user?: DemoUser): Note | undefined {
    const note = NOTES.get(Number(change.pk));
    return note && visibleTo(note, user) ? { ...note } : undefined;
  }

  /** What a page's on-load handler does before the page subscribes: the notes everyone may see. */
  @EventHandler()
  load(): void {
    this.notes = [...NOTES.values()].filter((note) => note.owner === null).map((note) => ({ ...note }));
  }

  /** Holds its token's queue until the test lets it go ({@link HOLD}): the events sent after it wait behind it. */
  @EventHandler()
  async hold(): Promise<void> {
    HOLD.held += 1;
    await HOLD.released;
  }
}

/** Every note, whoever asks: the guarded boards below leave who may see them to their guards. */
function anyNote(change: ModelChange): Note | undefined {
  const note = NOTES.get(Number(change.pk));
  return note ? { ...note } : undefined;
}

/** Members only: the whole state is guarded, so its live list must reach nobody its guard refuses. */
@State()
@BridgeTier('full')
@UseGuards(LoggedInGuard)
class MembersBoardState {
  @LiveList(LABEL)
  notes: Note[] = [];

  liveRow(change: ModelChange): Note | undefined {
    return anyNote(change);
  }
}

/** A state whose own `live_subscribe` handler carries the guard (the built-in subscription still answers it). */
@State()
@BridgeTier('full')
class StaffBoardState {
  @LiveList(LABEL)
  notes: Note[] = [];

  liveRow(change: ModelChange): Note | undefined {
    return anyNote(change);
  }

  @EventHandler()
  @UseGuards(LoggedInGuard)
  live_subscribe(): void {}
}

/** The gate `BoardState.hold` waits on; a test replaces it before sending `hold`. */
const HOLD = { released: Promise.resolve(), release: () => {}, held: 0 };

/** The gate {@link SlowGuard} waits on: a `live_subscribe` whose request was already read waits there. */
const GUARD_GATE = { released: Promise.resolve(), release: () => {}, held: 0 };

/** A guard that takes its time (a database lookup): it lets everyone through once the test opens its gate. */
@Injectable()
class SlowGuard implements CanActivate {
  async canActivate(): Promise<boolean> {
    GUARD_GATE.held += 1;
    await GUARD_GATE.released;
    return true;
  }
}

/** A `full`-tier board whose rows depend on the user, behind a slow guard. */
@State()
@BridgeTier('full')
@UseGuards(SlowGuard)
class SlowGuardedBoardState {
  @LiveList(LABEL)
  notes: Note[] = [];

  liveRow(change: ModelChange, user?: DemoUser): Note | undefined {
    const note = NOTES.get(Number(change.pk));
    return note && visibleTo(note, user) ? { ...note } : undefined;
  }
}
const SLOW_BOARD = 'reflex___state____state.slow_guarded_board_state';

/** Admins only, by the user's role as it is now (a role can change while the user stays logged in). */
@Injectable()
class AdminGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest<{ user?: DemoUser }>().user?.role === 'admin';
  }
}

/** A board for admins: its guard decides who sees its rows. */
@State()
@BridgeTier('full')
@UseGuards(AdminGuard)
class AdminBoardState {
  @LiveList(LABEL)
  notes: Note[] = [];

  liveRow(change: ModelChange): Note | undefined {
    return anyNote(change);
  }
}
const ADMIN_BOARD = 'reflex___state____state.admin_board_state';

/**
 * The members page's board: no Nest guard, its page is behind the app's redirect-to-login middleware (a `full`-tier
 * `fullMiddleware`, see {@link startBoard}), which decides who sees its rows.
 */
@State()
@BridgeTier('full')
class MembersPageBoardState {
  @LiveList(LABEL)
  notes: Note[] = [];

  liveRow(change: ModelChange): Note | undefined {
    return anyNote(change);
  }
}
const MEMBERS_PAGE_BOARD = 'reflex___state____state.members_page_board_state';
const MEMBERS_PAGE = { pathname: '/members', asPath: '/members' };

/** How many times the redirect-to-login middleware sent an anonymous request for the members page away. */
const MEMBERS_REDIRECTS = { count: 0 };

async function login(url: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  return response.headers.get('set-cookie')!.split(';')[0];
}

async function startBoard(options: ReflexBridgeModuleOptions = {}, stack = createAuthStack()): Promise<RunningApp> {
  const redirectToLogin: RequestHandler = (req, res, next) => {
    if (req.path.startsWith('/members') && !req.user) MEMBERS_REDIRECTS.count += 1;
    stack.redirectGuard(req, res, next);
  };
  // The app's role check for its admin pages: answers 403 to anyone but an admin.
  const adminsOnly: RequestHandler = (req, res, next) => {
    if (req.path.startsWith('/admin') && (req.user as DemoUser | undefined)?.role !== 'admin') {
      res.status(403).json({ message: 'Admins only.' });
      return;
    }
    next();
  };
  return startApp(
    {
      imports: [ReflexBridgeModule.forRoot({ ...options, bridge: { authMiddleware: stack.authMiddleware, fullMiddleware: [redirectToLogin, adminsOnly] } })],
      providers: [BoardState, MembersBoardState, StaffBoardState, SlowGuardedBoardState, AdminBoardState, MembersPageBoardState, AccountState, LoggedInGuard, SlowGuard, AdminGuard],
    },
    (app) => mountHttpAuth(app, stack),
  );
}

/** Sends `board`'s `live_subscribe` on `tab` (from the page `routerData` names) and waits until it is subscribed. */
async function subscribeTab(live: LiveBroadcaster, tab: RawSocket, board = BOARD, routerData?: Record<string, unknown>, what = 'the live subscription'): Promise<void> {
  const before = live.subscriberCount(LABEL);
  tab.send(`${board}.live_subscribe`, {}, routerData);
  await tab.until(() => live.subscriberCount(LABEL) > before, undefined, what);
}

/** The ids of the notes `board` shows on `tab`. */
function noteIdsOn(tab: RawSocket, board: string): number[] {
  return ((tab.latest(board, 'notes') as Note[] | undefined) ?? []).map((note) => note.id);
}

/**
 * Publishes a public note and waits until `tab`'s public board shows it: a change reaches the tab's subscriptions in
 * the order they were made, so by then every board subscribed before the public one was given it too.
 */
async function publishPublicNote(live: LiveBroadcaster, tab: RawSocket, id: number, text = `note ${id}`): Promise<void> {
  upsert({ id, text, owner: null });
  await live.publish(new ModelChange(LABEL, 'created', id));
  await tab.until(() => noteIdsOn(tab, BOARD).includes(id), undefined, `the public board to show ${id}`);
}

/**
 * A tab with `cookie` on the members page's board (subscribed from the page `routerData` names) and on the public
 * board, both showing note `id`: the members page's board first, so that once the public board shows a change, the
 * members page's board was given it too.
 */
async function tabOnMembersBoard(app: RunningApp, sockets: RawSocket[], cookie: string, routerData: Record<string, unknown>, id: number): Promise<RawSocket> {
  const tab = new RawSocket(app.url, undefined, { headers: { cookie } });
  sockets.push(tab);
  await tab.connected();
  await tab.hydrate();
  const live = app.app.get(LiveBroadcaster);
  await subscribeTab(live, tab, MEMBERS_PAGE_BOARD, routerData, "the members page's board");
  await subscribeTab(live, tab, BOARD, undefined, 'the public board');
  await publishPublicNote(live, tab, id);
  expect(noteIdsOn(tab, MEMBERS_PAGE_BOARD)).toEqual([id]);
  return tab;
}

async function subscribe(app: RunningApp, cookie?: string, board = BOARD): Promise<RawSocket> {
  const socket = new RawSocket(app.url, undefined, { headers: cookie ? { cookie } : {} });
  await socket.connected();
  await socket.hydrate();
  await subscribeTab(app.app.get(LiveBroadcaster), socket, board);
  return socket;
}

/** Watches the connection of `tab` being re-scoped to another user (a session end); `stop()` ends the watch. */
function watchRescope(app: RunningApp, tab: RawSocket): { seen: () => boolean; stop: () => void } {
  const subscriptions = app.app.get(LiveListSubscriptions);
  let rescoped = false;
  const changeUser = subscriptions.changeUser.bind(subscriptions);
  subscriptions.changeUser = (...args: Parameters<typeof changeUser>) => {
    if (args[0].sid === tab.socket.id) rescoped = true;
    changeUser(...args);
  };
  return { seen: () => rescoped, stop: () => delete (subscriptions as Partial<Pick<LiveListSubscriptions, 'changeUser'>>).changeUser };
}

function upsert(note: Note): void {
  NOTES.set(note.id, note);
}

describe('live lists', () => {
  let app: RunningApp;
  const sockets: RawSocket[] = [];
  beforeAll(async () => {
    app = await startBoard();
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await app.close();
  });

  it('patches the list on created, updated and deleted changes, with no client event', async () => {
    NOTES.clear();
    const client = await subscribe(app);
    sockets.push(client);
    const live = app.app.get(LiveBroadcaster);
    upsert({ id: 1, text: 'first', owner: null });
    await live.publish(new ModelChange(LABEL, 'created', 1));
    await client.untilVar(BOARD, 'notes', [{ id: 1, text: 'first', owner: null }]);
    upsert({ id: 2, text: 'second', owner: null });
    await live.publish(new ModelChange(LABEL, 'created', 2));
    upsert({ id: 1, text: 'first, edited', owner: null });
    await live.publish(new ModelChange(LABEL, 'updated', 1));
    await client.untilVar(BOARD, 'notes', [{ id: 1, text: 'first, edited', owner: null }, { id: 2, text: 'second', owner: null }]);
    NOTES.delete(1);
    await live.publish(new ModelChange(LABEL, 'deleted', 1));
    await client.untilVar(BOARD, 'notes', [{ id: 2, text: 'second', owner: null }]);
  });

  it('applies a change made between the page loading its list and subscribing, and one the load saw only once', async () => {
    NOTES.clear();
    const live = app.app.get(LiveBroadcaster);
    const client = new RawSocket(app.url);
    sockets.push(client);
    await client.connected();
    await client.hydrate();
    upsert({ id: 1, text: 'seen by the load', owner: null });
    await live.publish(new ModelChange(LABEL, 'created', 1));
    client.send(`${BOARD}.load`);
    await client.untilVar(BOARD, 'notes', [{ id: 1, text: 'seen by the load', owner: null }]);
    upsert({ id: 2, text: 'after the load', owner: null });
    await live.publish(new ModelChange(LABEL, 'created', 2));
    await subscribeTab(live, client);
    await client.untilVar(BOARD, 'notes', [{ id: 1, text: 'seen by the load', owner: null }, { id: 2, text: 'after the load', owner: null }]);
    // The change the load had seen was applied again, and left the list as it was.
    expect((client.latest(BOARD, 'notes') as Note[]).map((note) => note.id)).toEqual([1, 2]);
    // A socket that connects later gets none of the changes from before it connected.
    const other = await subscribe(app);
    sockets.push(other);
    upsert({ id: 3, text: 'live', owner: null });
    await live.publish(new ModelChange(LABEL, 'created', 3));
    await other.untilVar(BOARD, 'notes', [{ id: 3, text: 'live', owner: null }]);
  });

  it('replays only the changes since the page load began, not those from earlier in the connection', async () => {
    NOTES.clear();
    const live = app.app.get(LiveBroadcaster);
    upsert({ id: 5, text: 'still here', owner: null });
    const client = new RawSocket(app.url);
    sockets.push(client);
    await client.connected();
    // A stale change, received after the socket connected but before its page loaded: the load reads note 5.
    await live.publish(new ModelChange(LABEL, 'deleted', 5));
    // Changes received in the millisecond the page load begins are replayed (the load may not have seen them): the
    // page loads on a later tick of the clock, as any real one does. On a fast loopback both fell in one millisecond.
    const published = Date.now();
    while (Date.now() <= published) await new Promise((resolve) => setImmediate(resolve));
    await client.hydrate();
    client.send(`${BOARD}.load`);
    await client.untilVar(BOARD, 'notes', [{ id: 5, text: 'still here', owner: null }]);
    await subscribeTab(live, client);
    upsert({ id: 6, text: 'live', owner: null });
    await live.publish(new ModelChange(LABEL, 'created', 6));
    await client.untilVar(BOARD, 'notes', [{ id: 5, text: 'still here', owner: null }, { id: 6, text: 'live', owner: null }]);
  });

  it('re-reads every shown row on a refetch (a bulk change of unknown rows), scoped per user, and replays it', async () => {
    NOTES.clear();
    const live = app.app.get(LiveBroadcaster);
    const alice = await subscribe(app, await login(app.url, 'alice', 'wonderland'));
    const bob = await subscribe(app, await login(app.url, 'bob', 'builder'));
    sockets.push(alice, bob);
    upsert({ id: 20, text: 'public', owner: null });
    upsert({ id: 21, text: 'to be deleted in bulk', owner: null });
    upsert({ id: 22, text: "alice's", owner: 'alice' });
    for (const id of [20, 21, 22]) await live.publish(new ModelChange(LABEL, 'created', id));
    await alice.untilVar(BOARD, 'notes', [{ id: 20, text: 'public', owner: null }, { id: 21, text: 'to be deleted in bulk', owner: null }, { id: 22, text: "alice's", owner: 'alice' }]);
    await bob.untilVar(BOARD, 'notes', [{ id: 20, text: 'public', owner: null }, { id: 21, text: 'to be deleted in bulk', owner: null }]);
    // A bulk UPDATE / DELETE: which rows changed is not known, only the model.
    upsert({ id: 20, text: 'public, renamed in bulk', owner: null });
    NOTES.delete(21);
    upsert({ id: 22, text: 'now private to bob', owner: 'bob' });
    await live.publish(ModelChange.refetch(LABEL));
    await alice.untilVar(BOARD, 'notes', [{ id: 20, text: 'public, renamed in bulk', owner: null }]);
    await bob.untilVar(BOARD, 'notes', [{ id: 20, text: 'public, renamed in bulk', owner: null }]);
    expect(JSON.stringify(bob.updates)).not.toContain("alice's");

    // A refetch published between a page's load and its live_subscribe is replayed.
    const late = new RawSocket(app.url);
    sockets.push(late);
    await late.connected();
    const published = Date.now();
    while (Date.now() <= published) await new Promise((resolve) => setImmediate(resolve));
    await late.hydrate();
    late.send(`${BOARD}.load`);
    await late.untilVar(BOARD, 'notes', [{ id: 20, text: 'public, renamed in bulk', owner: null }]);
    upsert({ id: 20, text: 'renamed again, before the subscription', owner: null });
    await live.publish(ModelChange.refetch(LABEL));
    await subscribeTab(live, late);
    await late.untilVar(BOARD, 'notes', [{ id: 20, text: 'renamed again, before the subscription', owner: null }]);
  });

  it('never sends a row to a user who may not see it, and removes a row that leaves their scope', async () => {
    NOTES.clear();
    const alice = await subscribe(app, await login(app.url, 'alice', 'wonderland'));
    const bob = await subscribe(app, await login(app.url, 'bob', 'builder'));
    sockets.push(alice, bob);
    const live = app.app.get(LiveBroadcaster);
    upsert({ id: 10, text: 'for everyone', owner: null });
    await live.publish(new ModelChange(LABEL, 'created', 10));
    upsert({ id: 11, text: "alice's secret", owner: 'alice' });
    await live.publish(new ModelChange(LABEL, 'created', 11));
    await alice.untilVar(BOARD, 'notes', [{ id: 10, text: 'for everyone', owner: null }, { id: 11, text: "alice's secret", owner: 'alice' }]);
    await bob.untilVar(BOARD, 'notes', [{ id: 10, text: 'for everyone', owner: null }]);
    upsert({ id: 10, text: 'now private', owner: 'alice' });
    await live.publish(new ModelChange(LABEL, 'updated', 10));
    await bob.untilVar(BOARD, 'notes', []);
    await alice.untilVar(BOARD, 'notes', [{ id: 10, text: 'now private', owner: 'alice' }, { id: 11, text: "alice's secret", owner: 'alice' }]);
    expect(JSON.stringify(bob.updates)).not.toContain('secret');
    expect(JSON.stringify(bob.updates)).not.toContain('now private');
  });

  it("stops sending a user's private rows to a tab once its session ended (a logout in another tab)", async () => {
    NOTES.clear();
    const cookie = await login(app.url, 'alice', 'wonderland');
    const tab = await subscribe(app, cookie);
    sockets.push(tab);
    tab.send(`${ACCOUNT}.whoami`);
    await tab.untilVar(ACCOUNT, 'seen', 'alice');
    const live = app.app.get(LiveBroadcaster);
    upsert({ id: 50, text: 'before the logout', owner: 'alice' });
    await live.publish(new ModelChange(LABEL, 'created', 50));
    await tab.untilVar(BOARD, 'notes', [{ id: 50, text: 'before the logout', owner: 'alice' }]);
    // Another tab of the same browser logs out: the session ends, and this tab is re-authenticated as nobody.
    const loggedOut = await fetch(`${app.url}/logout`, { method: 'POST', headers: { cookie } });
    expect(loggedOut.status).toBe(200);
    await tab.untilVar(ACCOUNT, 'isAuthenticated', false);
    upsert({ id: 51, text: 'written after the logout', owner: 'alice' });
    await live.publish(new ModelChange(LABEL, 'created', 51));
    upsert({ id: 52, text: 'for everyone', owner: null });
    await live.publish(new ModelChange(LABEL, 'created', 52));
    // Changes apply in order: once the public row is there, the private one was judged, for nobody.
    await tab.untilVar(BOARD, 'notes', [{ id: 50, text: 'before the logout', owner: 'alice' }, { id: 52, text: 'for everyone', owner: null }]);
    expect(JSON.stringify(tab.updates)).not.toContain('written after the logout');
  });

  it('scopes a subscription to nobody when the session ended while its live_subscribe was under way', async () => {
    NOTES.clear();
    const cookie = await login(app.url, 'alice', 'wonderland');
    const tab = new RawSocket(app.url, undefined, { headers: { cookie } });
    sockets.push(tab);
    await tab.connected();
    await tab.hydrate();
    const rescope = watchRescope(app, tab);
    // The subscription read alice's session and now waits in its guard...
    GUARD_GATE.released = new Promise<void>((resolve) => (GUARD_GATE.release = resolve));
    const held = GUARD_GATE.held;
    tab.send(`${SLOW_BOARD}.live_subscribe`);
    await tab.until(() => GUARD_GATE.held > held, undefined, 'the guard to run');
    // ...when another tab logs out: this connection is re-scoped to nobody before its subscription exists.
    const loggedOut = await fetch(`${app.url}/logout`, { method: 'POST', headers: { cookie } });
    expect(loggedOut.status).toBe(200);
    await tab.until(rescope.seen, undefined, 'the connection to be re-scoped');
    rescope.stop();
    const live = app.app.get(LiveBroadcaster);
    const before = live.subscriberCount(LABEL);
    GUARD_GATE.release();
    await tab.until(() => live.subscriberCount(LABEL) > before, undefined, 'the live subscription');
    await tab.untilVar(ACCOUNT, 'isAuthenticated', false);
    upsert({ id: 70, text: 'alice only, after her logout', owner: 'alice' });
    await live.publish(new ModelChange(LABEL, 'created', 70));
    upsert({ id: 71, text: 'for everyone', owner: null });
    await live.publish(new ModelChange(LABEL, 'created', 71));
    await tab.until(() => ((tab.latest(SLOW_BOARD, 'notes') as Note[] | undefined) ?? []).some((note) => note.id === 71), undefined, 'the public row');
    // Changes apply in order: once the public row is there, the private one was judged, for nobody.
    expect(tab.latest(SLOW_BOARD, 'notes')).toEqual([{ id: 71, text: 'for everyone', owner: null }]);
  });

  it("re-scopes each tab of an ended session at once, not after another tab's running event", async () => {
    NOTES.clear();
    const cookie = await login(app.url, 'alice', 'wonderland');
    const busy = await subscribe(app, cookie);
    const tab = await subscribe(app, cookie);
    sockets.push(busy, tab);
    const rescope = watchRescope(app, tab);
    // The first tab's queue is held by a long event: its fresh AppState snapshot waits behind it.
    HOLD.released = new Promise<void>((resolve) => (HOLD.release = resolve));
    const held = HOLD.held;
    busy.send(`${BOARD}.hold`);
    await busy.until(() => HOLD.held > held, undefined, 'hold to run');
    try {
      const loggedOut = await fetch(`${app.url}/logout`, { method: 'POST', headers: { cookie } });
      expect(loggedOut.status).toBe(200);
      await tab.until(rescope.seen, undefined, 'the second tab to be re-scoped');
      const live = app.app.get(LiveBroadcaster);
      upsert({ id: 80, text: 'alice only, after her logout', owner: 'alice' });
      await live.publish(new ModelChange(LABEL, 'created', 80));
      upsert({ id: 81, text: 'for everyone', owner: null });
      await live.publish(new ModelChange(LABEL, 'created', 81));
      await tab.until(() => ((tab.latest(BOARD, 'notes') as Note[] | undefined) ?? []).some((note) => note.id === 81), undefined, 'the public row');
      expect(tab.latest(BOARD, 'notes')).toEqual([{ id: 81, text: 'for everyone', owner: null }]);
    } finally {
      rescope.stop();
      HOLD.release();
    }
  });

  it("shows each tab of an ended session logged out at once, not after another tab's running event", async () => {
    const cookie = await login(app.url, 'alice', 'wonderland');
    // The busy tab connects first: it is the first of the session's sockets the session end goes through.
    const busy = await subscribe(app, cookie);
    const tab = await subscribe(app, cookie);
    sockets.push(busy, tab);
    tab.send(`${ACCOUNT}.whoami`);
    await tab.untilVar(ACCOUNT, 'seen', 'alice');
    expect(tab.latest(ACCOUNT, 'isAuthenticated')).toBe(true);
    // The busy tab's queue is held by a long event (an upload, a slow API call).
    HOLD.released = new Promise<void>((resolve) => (HOLD.release = resolve));
    const held = HOLD.held;
    busy.send(`${BOARD}.hold`);
    await busy.until(() => HOLD.held > held, undefined, 'hold to run');
    try {
      const loggedOut = await fetch(`${app.url}/logout`, { method: 'POST', headers: { cookie } });
      expect(loggedOut.status).toBe(200);
      // The idle tab's page shows the logout while the busy tab's event still runs.
      await tab.untilVar(ACCOUNT, 'isAuthenticated', false);
    } finally {
      HOLD.release();
    }
    await busy.untilVar(ACCOUNT, 'isAuthenticated', false);
  });

  it("shows the user a tab logged in as after its session ended, not the logout's snapshot pushed behind that login", async () => {
    NOTES.clear();
    const cookie = await login(app.url, 'alice', 'wonderland');
    const tab = await subscribe(app, cookie);
    sockets.push(tab);
    tab.send(`${ACCOUNT}.whoami`);
    await tab.untilVar(ACCOUNT, 'seen', 'alice');
    // The tab's queue is held by a long event when alice logs out in another tab: its re-authentication waits.
    HOLD.released = new Promise<void>((resolve) => (HOLD.release = resolve));
    const held = HOLD.held;
    tab.send(`${BOARD}.hold`);
    await tab.until(() => HOLD.held > held, undefined, 'hold to run');
    try {
      const loggedOut = await fetch(`${app.url}/logout`, { method: 'POST', headers: { cookie } });
      expect(loggedOut.status).toBe(200);
      // Meanwhile the user logs in as bob in this tab: the login waits behind the re-authentication.
      tab.send(`${ACCOUNT}.login`, { username: 'bob', password: 'builder' });
    } finally {
      HOLD.release();
    }
    await tab.untilVar(ACCOUNT, 'seen', 'bob');
    // Sent after the login ended (to a state that is no AppState): answered once everything queued before it has run.
    upsert({ id: 150, text: 'loaded', owner: null });
    tab.send(`${BOARD}.load`);
    await tab.until(() => ((tab.latest(BOARD, 'notes') as Note[] | undefined) ?? []).some((note) => note.id === 150), undefined, 'the load');
    expect(tab.latest(ACCOUNT, 'username')).toBe('bob');
    expect(tab.latest(ACCOUNT, 'isAuthenticated')).toBe(true);
  });

  it("stops a guarded board's rows at a tab whose session ended, until its guards let the tab's user through again", async () => {
    NOTES.clear();
    const members = 'reflex___state____state.members_board_state';
    const cookie = await login(app.url, 'bob', 'builder');
    // The members board first, then the public one: a change reaches the tab's subscriptions in that order, so once
    // the public board shows a change, the members board has been given it too.
    const tab = await subscribe(app, cookie, members);
    sockets.push(tab);
    const live = app.app.get(LiveBroadcaster);
    await subscribeTab(live, tab, BOARD, undefined, 'the public board');
    tab.send(`${ACCOUNT}.whoami`);
    await tab.untilVar(ACCOUNT, 'seen', 'bob');
    await publishPublicNote(live, tab, 90, 'for members, before the logout');
    expect(noteIdsOn(tab, members)).toEqual([90]);
    // Bob logs out in another tab: this one is re-authenticated as nobody, whom the members board's guard refuses.
    const loggedOut = await fetch(`${app.url}/logout`, { method: 'POST', headers: { cookie } });
    expect(loggedOut.status).toBe(200);
    await tab.untilVar(ACCOUNT, 'isAuthenticated', false);
    await publishPublicNote(live, tab, 91, 'for members, after the logout');
    // Rows already shown stay (as after any logout); no later one reaches a tab the guard would refuse.
    expect(noteIdsOn(tab, members)).toEqual([90]);
    // Logged in again and subscribed again (its guard lets bob through): the rows come back, the missed one included.
    tab.send(`${ACCOUNT}.login`, { username: 'bob', password: 'builder' });
    await tab.untilVar(ACCOUNT, 'seen', 'bob');
    tab.send(`${members}.live_subscribe`);
    await tab.until(() => noteIdsOn(tab, members).includes(91), undefined, 'the missed row at the member');
    upsert({ id: 92, text: 'for members, after the login', owner: null });
    await live.publish(new ModelChange(LABEL, 'created', 92));
    await tab.until(() => noteIdsOn(tab, members).includes(92), undefined, 'the next row at the member');
    expect(tab.errors).toEqual([]);
  });

  it("stops the members page's board at a tab whose session ended, when the app's redirect-to-login middleware guards that page", async () => {
    NOTES.clear();
    const cookie = await login(app.url, 'bob', 'builder');
    const tab = await tabOnMembersBoard(app, sockets, cookie, MEMBERS_PAGE, 120);
    const live = app.app.get(LiveBroadcaster);
    // Bob logs out in another tab: this one is re-authenticated as nobody, whom the members page sends to the login.
    const redirects = MEMBERS_REDIRECTS.count;
    const loggedOut = await fetch(`${app.url}/logout`, { method: 'POST', headers: { cookie } });
    expect(loggedOut.status).toBe(200);
    await tab.untilVar(ACCOUNT, 'isAuthenticated', false);
    upsert({ id: 121, text: 'for members, after the logout', owner: null });
    await live.publish(new ModelChange(LABEL, 'created', 121));
    // Either the row reaches the logged-out tab, or the members page's check turned the tab away.
    await tab.until(() => noteIdsOn(tab, MEMBERS_PAGE_BOARD).includes(121) || MEMBERS_REDIRECTS.count > redirects, undefined, 'the check of the members page');
    await publishPublicNote(live, tab, 122, 'for everyone');
    // Rows already shown stay (as after any logout); no later one reaches a tab the members page turns away.
    expect(noteIdsOn(tab, MEMBERS_PAGE_BOARD)).toEqual([120]);
  });

  it("stops a page's board at a tab whose live_subscribe the app's middleware turns away now, though it let it in before", async () => {
    NOTES.clear();
    const alice = USERS.find((user) => user.username === 'alice')!;
    // The members page's board from the admin pages (the role check).
    const tab = await tabOnMembersBoard(app, sockets, await login(app.url, 'alice', 'wonderland'), { pathname: '/admin/members', asPath: '/admin/members' }, 130);
    const live = app.app.get(LiveBroadcaster);
    try {
      // Alice is an admin no more; her page subscribes again (its next load), and the role check answers 403.
      alice.role = 'user';
      tab.send(`${MEMBERS_PAGE_BOARD}.live_subscribe`, {}, { pathname: '/admin/members', asPath: '/admin/members' });
      await tab.until(() => tab.errors.length > 0, undefined, 'the refusal');
      expect(tab.errors).toEqual([expect.objectContaining({ event: `${MEMBERS_PAGE_BOARD}.live_subscribe`, code: 'forbidden' })]);
      await publishPublicNote(live, tab, 131, 'for admins, after the refusal');
      // The refusal holds: no row reaches the board the role check now refuses her.
      expect(noteIdsOn(tab, MEMBERS_PAGE_BOARD)).toEqual([130]);
    } finally {
      alice.role = 'admin';
    }
  });

  it("stops the members page's board at a tab whose live_subscribe the app's redirect-to-login middleware sends away now", async () => {
    NOTES.clear();
    const tab = await tabOnMembersBoard(app, sockets, await login(app.url, 'bob', 'builder'), MEMBERS_PAGE, 140);
    const live = app.app.get(LiveBroadcaster);
    // Bob's account is closed: his session stays, but it loads no user any more (deserializeUser finds none).
    const index = USERS.findIndex((user) => user.username === 'bob');
    const [bob] = USERS.splice(index, 1);
    try {
      // His page subscribes again (its next load), and the redirect-to-login middleware sends it to the login page.
      tab.send(`${MEMBERS_PAGE_BOARD}.live_subscribe`, {}, MEMBERS_PAGE);
      await tab.until(() => tab.updates.some((update) => update.events?.some((sent) => sent.name === '_redirect')), undefined, 'the redirect');
      await publishPublicNote(live, tab, 141, 'for members, after the redirect');
      expect(noteIdsOn(tab, MEMBERS_PAGE_BOARD)).toEqual([140]);
    } finally {
      USERS.splice(index, 0, bob);
    }
  });

  it('stops a guarded board at a tab whose live_subscribe its guards refuse now, though they let it in before', async () => {
    NOTES.clear();
    const alice = USERS.find((user) => user.username === 'alice')!;
    // The admin board first, then the public one: once the public board shows a change, the admin board was given it.
    const tab = await subscribe(app, await login(app.url, 'alice', 'wonderland'), ADMIN_BOARD);
    sockets.push(tab);
    const live = app.app.get(LiveBroadcaster);
    await subscribeTab(live, tab, BOARD, undefined, 'the public board');
    await publishPublicNote(live, tab, 110, 'for admins');
    expect(noteIdsOn(tab, ADMIN_BOARD)).toEqual([110]);
    try {
      // Alice is an admin no more; her page subscribes again (its next load), and the guard refuses it.
      alice.role = 'user';
      tab.send(`${ADMIN_BOARD}.live_subscribe`);
      await tab.until(() => tab.errors.length > 0, undefined, 'the refusal');
      expect(tab.errors).toEqual([expect.objectContaining({ event: `${ADMIN_BOARD}.live_subscribe` })]);
      await publishPublicNote(live, tab, 111, 'for admins, after the refusal');
      // The refusal holds: no row reaches the board its guard now refuses her.
      expect(noteIdsOn(tab, ADMIN_BOARD)).toEqual([110]);
    } finally {
      alice.role = 'admin';
    }
  });

  it("shows a user's private rows once the page subscribes again after logging in over an event", async () => {
    NOTES.clear();
    const tab = await subscribe(app);
    sockets.push(tab);
    const live = app.app.get(LiveBroadcaster);
    upsert({ id: 60, text: 'not yet hers', owner: 'alice' });
    await live.publish(new ModelChange(LABEL, 'created', 60));
    upsert({ id: 61, text: 'for everyone', owner: null });
    await live.publish(new ModelChange(LABEL, 'created', 61));
    await tab.untilVar(BOARD, 'notes', [{ id: 61, text: 'for everyone', owner: null }]);
    tab.send(`${ACCOUNT}.login`, { username: 'alice', password: 'wonderland' });
    await tab.untilVar(ACCOUNT, 'seen', 'alice');
    // What a page does on its next load; the token's events run in order, so whoami (which sets the role) answers after it.
    tab.send(`${BOARD}.live_subscribe`);
    tab.send(`${ACCOUNT}.whoami`);
    await tab.untilVar(ACCOUNT, 'role', 'admin');
    upsert({ id: 62, text: 'hers now', owner: 'alice' });
    await live.publish(new ModelChange(LABEL, 'created', 62));
    upsert({ id: 63, text: 'for everyone, later', owner: null });
    await live.publish(new ModelChange(LABEL, 'created', 63));
    await tab.until(() => ((tab.latest(BOARD, 'notes') as Note[] | undefined) ?? []).some((note) => note.id === 63), undefined, 'the later public row');
    // Subscribing again as alice also replayed the changes since the page loaded, now judged for her: 60 joins.
    expect(tab.latest(BOARD, 'notes')).toEqual([
      { id: 61, text: 'for everyone', owner: null },
      { id: 60, text: 'not yet hers', owner: 'alice' },
      { id: 62, text: 'hers now', owner: 'alice' },
      { id: 63, text: 'for everyone, later', owner: null },
    ]);
  });

  it('leaves every one of many subscribers of a public list with the list a fresh hydrate of its token gives', async () => {
    NOTES.clear();
    const clients: RawSocket[] = [];
    for (let i = 0; i < 12; i++) clients.push(await subscribe(app));
    sockets.push(...clients);
    const live = app.app.get(LiveBroadcaster);
    for (let id = 21; id <= 25; id++) {
      upsert({ id, text: `note ${id}`, owner: null });
      await live.publish(new ModelChange(LABEL, 'created', id));
    }
    upsert({ id: 22, text: 'note 22, edited', owner: null });
    await live.publish(new ModelChange(LABEL, 'updated', 22));
    NOTES.delete(23);
    await live.publish(new ModelChange(LABEL, 'deleted', 23));
    upsert({ id: 24, text: 'now private', owner: 'alice' });
    await live.publish(new ModelChange(LABEL, 'updated', 24));
    const expected = [
      { id: 21, text: 'note 21', owner: null },
      { id: 22, text: 'note 22, edited', owner: null },
      { id: 25, text: 'note 25', owner: null },
    ];
    for (const client of clients) await client.untilVar(BOARD, 'notes', expected);
    // What the server holds for each tab is what it was sent: a new connection with the same token hydrates to it.
    for (const client of clients.slice(0, 3)) {
      client.close();
      const again = new RawSocket(app.url, client.token);
      sockets.push(again);
      await again.connected();
      await again.hydrate();
      expect(again.latest(BOARD, 'notes')).toEqual(expected);
    }
  });

  it('keeps the list of a @reflex-bridge/client live after the server dropped its socket: the client subscribes again', async () => {
    NOTES.clear();
    const live = app.app.get(LiveBroadcaster);
    const namespace = app.app.get(EventGateway).server!;
    const client = new ReflexClient({ url: app.url, reconnect: { baseDelayMs: 20, maxDelayMs: 200 } });
    try {
      await client.connect();
      const before = live.subscriberCount(LABEL);
      client.call(BOARD, 'live_subscribe');
      await until(() => live.subscriberCount(LABEL) > before, 'the live subscription');
      upsert({ id: 40, text: 'before the drop', owner: null });
      await live.publish(new ModelChange(LABEL, 'created', 40));
      await client.waitFor<{ notes: Note[] }>(BOARD, (vars) => vars.notes.length === 1, 20_000);

      // A worker restart or a network drop, as the server sees it: the socket and its subscription are gone.
      const dropped = [...namespace.sockets.values()].find((socket) => socket.handshake.query['token'] === client.token)!;
      const sid = dropped.id;
      dropped.disconnect(true);
      const reconnected = new Promise<void>((resolve) => {
        const stop = client.onStatus((status) => {
          if (status !== 'ready') return;
          stop();
          resolve();
        });
      });
      await reconnected;
      expect(namespace.sockets.has(sid)).toBe(false);
      // The app sent nothing after the drop: the change still reaches the list on the new connection.
      await until(() => live.subscriberCount(LABEL) === before + 1, 'the subscription on the new connection');
      upsert({ id: 41, text: 'after the reconnection', owner: null });
      await live.publish(new ModelChange(LABEL, 'created', 41));
      await client.waitFor<{ notes: Note[] }>(BOARD, (vars) => vars.notes.some((note) => note.id === 41), 20_000);
      client.disconnect();
      // The later tests count subscribers: this one's must be gone first.
      await until(() => live.subscriberCount(LABEL) === before, 'the server to see the client leave');
    } finally {
      client.disconnect();
    }
  });

  it('keeps no subscription for a live_subscribe that ran after its socket had left', async () => {
    const live = app.app.get(LiveBroadcaster);
    const namespace = app.app.get(EventGateway).server!;
    const before = live.subscriberCount(LABEL);
    const tab = new RawSocket(app.url);
    sockets.push(tab);
    await tab.connected();
    await tab.hydrate();
    HOLD.released = new Promise<void>((resolve) => (HOLD.release = resolve));
    // hold runs and holds the token's queue, live_subscribe waits behind it, and the tab closes meanwhile.
    const held = HOLD.held;
    tab.send(`${BOARD}.hold`);
    tab.send(`${BOARD}.live_subscribe`);
    await tab.until(() => HOLD.held > held, undefined, 'hold to run');
    const sid = tab.socket.id!;
    tab.close();
    await tab.until(() => !namespace.sockets.has(sid), undefined, 'the server to see the tab leave');
    HOLD.release();
    // The same token's next socket: its hydrate runs after everything the first one queued, live_subscribe included.
    const again = new RawSocket(app.url, tab.token);
    sockets.push(again);
    await again.connected();
    await again.hydrate();
    expect(again.newTokens).toEqual([]);
    expect(tab.errors).toEqual([]);
    expect(live.subscriberCount(LABEL)).toBe(before);
  });

  it.each([
    ['@UseGuards on the state class', 'reflex___state____state.members_board_state'],
    ['@UseGuards on the state\'s own live_subscribe handler', 'reflex___state____state.staff_board_state'],
  ])('runs the guards of a full-tier state before subscribing (%s): refused, no rows; let through, rows', async (_where, board) => {
    const live = app.app.get(LiveBroadcaster);
    const before = live.subscriberCount(LABEL);
    const anonymous = new RawSocket(app.url);
    sockets.push(anonymous);
    await anonymous.connected();
    await anonymous.hydrate();
    anonymous.send(`${board}.live_subscribe`);
    await anonymous.until(() => anonymous.errors.length > 0, undefined, 'the refusal');
    expect(anonymous.errors).toEqual([expect.objectContaining({ event: `${board}.live_subscribe` })]);
    expect(live.subscriberCount(LABEL)).toBe(before);
    const member = await subscribe(app, await login(app.url, 'bob', 'builder'), board);
    NOTES.set(4_242, { id: 4_242, text: 'for members', owner: null });
    await live.publish(new ModelChange(LABEL, 'created', 4_242));
    await member.until(() => ((member.latest(board, 'notes') as Note[] | undefined) ?? []).some((note) => note.id === 4_242), undefined, 'the row at the member');
    expect(live.subscriberCount(LABEL)).toBe(before + 1);
    expect(anonymous.latest(board, 'notes')).not.toContainEqual(expect.objectContaining({ id: 4_242 }));
    member.close();
    await member.until(() => live.subscriberCount(LABEL) === before, undefined, 'the member to leave');
  });

  it('unsubscribes when the connection closes', async () => {
    const live = app.app.get(LiveBroadcaster);
    const before = live.subscriberCount(LABEL);
    const client = await subscribe(app);
    expect(live.subscriberCount(LABEL)).toBe(before + 1);
    client.close();
    await client.until(() => live.subscriberCount(LABEL) === before, undefined, 'the subscription to end with the socket');
  });
});

/** A session store slow to answer one read: the first read of a session after its end waits for `release()`. */
class SlowAfterEndStore extends session.MemoryStore {
  /** Armed: the next session this store destroys has its next read held. */
  armed = false;
  private held?: string;
  private readonly gate = { released: false, waiting: [] as Array<() => void> };

  release(): void {
    this.gate.released = true;
    for (const resume of this.gate.waiting.splice(0)) resume();
  }

  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    if (this.armed) {
      this.armed = false;
      this.held = sid;
    }
    super.destroy(sid, callback);
  }

  override get(sid: string, callback: (err: unknown, session?: session.SessionData | null) => void): void {
    if (sid !== this.held || this.gate.released) {
      super.get(sid, callback);
      return;
    }
    this.held = undefined;
    this.gate.waiting.push(() => super.get(sid, callback));
  }
}

describe('live lists after a login over an event that regenerates the session', () => {
  let app: RunningApp;
  const store = new SlowAfterEndStore();
  const sockets: RawSocket[] = [];
  beforeAll(async () => {
    app = await startBoard({}, createAuthStack({ store }));
  });
  afterAll(async () => {
    store.release();
    for (const socket of sockets) socket.close();
    await app.close();
  });

  it("shows the new user's private rows even when the session store answers the re-authentication late", async () => {
    NOTES.clear();
    const tab = await subscribe(app, await login(app.url, 'alice', 'wonderland'));
    sockets.push(tab);
    tab.send(`${ACCOUNT}.whoami`);
    await tab.untilVar(ACCOUNT, 'role', 'admin');
    const subscriptions = app.app.get(LiveListSubscriptions);
    let rescoped = 0;
    const changeUser = subscriptions.changeUser.bind(subscriptions);
    subscriptions.changeUser = (...args: Parameters<typeof changeUser>) => {
      if (args[0].sid === tab.socket.id) rescoped += 1;
      changeUser(...args);
    };
    try {
      // Bob logs in in alice's tab: passport regenerates the session, so alice's session ends and the tab is
      // re-authenticated; the store is slow to answer that (a busy Redis), and the login's event ends first.
      store.armed = true;
      tab.send(`${ACCOUNT}.login`, { username: 'bob', password: 'builder' });
      await tab.untilVar(ACCOUNT, 'seen', 'bob');
      // The page subscribes again as bob (whoami answers after it: one token's events run in order).
      tab.send(`${BOARD}.live_subscribe`);
      tab.send(`${ACCOUNT}.whoami`);
      await tab.untilVar(ACCOUNT, 'role', 'user');
      store.release();
      // Scoped to nobody at the session's end, then to whoever the re-authentication found.
      await tab.until(() => rescoped >= 2, undefined, 'the re-authentication');
      const live = app.app.get(LiveBroadcaster);
      upsert({ id: 97, text: "bob's own", owner: 'bob' });
      await live.publish(new ModelChange(LABEL, 'created', 97));
      upsert({ id: 98, text: 'for everyone', owner: null });
      await live.publish(new ModelChange(LABEL, 'created', 98));
      await tab.until(() => ((tab.latest(BOARD, 'notes') as Note[] | undefined) ?? []).some((note) => note.id === 98), undefined, 'the public row');
      expect(((tab.latest(BOARD, 'notes') as Note[]) ?? []).map((note) => note.id)).toEqual([97, 98]);
      // The re-authentication's AppState snapshot (queued before the changes) says bob too, not nobody.
      expect(tab.latest(ACCOUNT, 'isAuthenticated')).toBe(true);
    } finally {
      delete (subscriptions as Partial<Pick<LiveListSubscriptions, 'changeUser'>>).changeUser;
    }
  });
});

describeWithRedis('live lists across two app instances sharing Redis', () => {
  let redis: RedisTestServer;
  const apps: RunningApp[] = [];
  beforeAll(async () => {
    redis = await RedisTestServer.launch();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });
  afterAll(async () => {
    await redis.destroy();
  });

  it('delivers a change published on one instance to clients connected to the other', async () => {
    NOTES.clear();
    const a = await startBoard({ live: { transport: new RedisTransport({ url: redis.url }) } });
    const b = await startBoard({ live: { transport: new RedisTransport({ url: redis.url }) } });
    apps.push(a, b);
    const onB = await subscribe(b);
    const onA = await subscribe(a);
    upsert({ id: 20, text: 'from A', owner: null });
    await a.app.get(LiveBroadcaster).publish(new ModelChange(LABEL, 'created', 20));
    await onB.untilVar(BOARD, 'notes', [{ id: 20, text: 'from A', owner: null }]);
    await onA.untilVar(BOARD, 'notes', [{ id: 20, text: 'from A', owner: null }]);
    onA.close();
    onB.close();
  });
});

describeWithRedis('guarded live lists across two workers sharing Redis sessions', () => {
  let redis: RedisTestServer;
  const apps: RunningApp[] = [];
  const sockets: RawSocket[] = [];
  const clients: Array<TestRedisClient> = [];
  /** A worker's auth stack with the sessions in the shared Redis (connect-redis), as every worker of an app has. */
  const redisSessions = async () => {
    const client = createClient({ url: redis.url });
    await client.connect();
    clients.push(client);
    return createAuthStack({ store: new RedisStore({ client, prefix: 'sess:' }) });
  };
  beforeAll(async () => {
    redis = await RedisTestServer.launch();
  });
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await Promise.all(clients.splice(0).map((client) => client.quit()));
  });
  afterAll(async () => {
    await redis.destroy();
  });

  it("stops a guarded board at a tab on one worker once its session is logged out on the other", async () => {
    NOTES.clear();
    const members = 'reflex___state____state.members_board_state';
    const a = await startBoard({ redisUrl: redis.url }, await redisSessions());
    apps.push(a);
    const b = await startBoard({ redisUrl: redis.url }, await redisSessions());
    apps.push(b);
    const cookie = await login(a.url, 'bob', 'builder');
    // Bob's tab is on worker B: the members board first, then the public one (see publishPublicNote).
    const tab = await subscribe(b, cookie, members);
    sockets.push(tab);
    const live = b.app.get(LiveBroadcaster);
    await subscribeTab(live, tab, BOARD, undefined, 'the public board');
    tab.send(`${ACCOUNT}.whoami`);
    await tab.untilVar(ACCOUNT, 'seen', 'bob');
    await publishPublicNote(live, tab, 200, 'for members, before the logout');
    expect(noteIdsOn(tab, members)).toEqual([200]);
    // Bob logs out on worker A: B hears of the end over Redis and re-authenticates the tab as nobody.
    expect((await fetch(`${a.url}/logout`, { method: 'POST', headers: { cookie } })).status).toBe(200);
    await tab.untilVar(ACCOUNT, 'isAuthenticated', false);
    await publishPublicNote(live, tab, 201, 'for members, after the logout');
    // No row reaches a tab the members board's guard would now refuse.
    expect(noteIdsOn(tab, members)).toEqual([200]);
    expect(await fetch(`${b.url}/me`, { headers: { cookie } }).then((response) => response.json())).toEqual({ user: null });
  });
});

describeWithPostgres('live lists across two app instances sharing Postgres LISTEN/NOTIFY', () => {
  let postgres: PostgresTestServer;
  const apps: RunningApp[] = [];
  beforeAll(async () => {
    postgres = await PostgresTestServer.launch();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });
  afterAll(async () => {
    await postgres.destroy();
  });

  it('delivers a change published on one instance to clients connected to the other', async () => {
    NOTES.clear();
    const transport = () => new PostgresTransport({ connectionString: postgres.connectionString });
    const a = await startBoard({ live: { transport: transport() } });
    const b = await startBoard({ live: { transport: transport() } });
    apps.push(a, b);
    const onB = await subscribe(b);
    upsert({ id: 30, text: 'through NOTIFY', owner: null });
    await a.app.get(LiveBroadcaster).publish(new ModelChange(LABEL, 'created', 30));
    await onB.untilVar(BOARD, 'notes', [{ id: 30, text: 'through NOTIFY', owner: null }]);
    onB.close();
  });
});
