import { afterEach, describe, expect, it } from '@jest/globals';
import { ALL_STATES, createAuthStack, startAuthApp, USERS } from './fixtures/auth-app.js';
import type { RunningApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { RawSocket, handoffOf } from './support/raw-socket.js';
import { reconnectLikeStateJs, STATE_JS_FINAL_REASONS } from './support/state-js-reconnect.js';

const ROOT = 'reflex___state____state';
const UI = `${ROOT}.ui_state`;
const FILTER = `${ROOT}.filter_state`;
const SUB_FILTER = `${ROOT}.sub_filter_state`;
const ACCOUNT = `${ROOT}.account_state`;
const VAULT = `${ROOT}.vault_state`;
const REPORT = `${ROOT}.report_state`;

async function httpLogin(url: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  expect(response.status).toBe(200);
  const setCookie = response.headers.get('set-cookie')!;
  expect(setCookie).toMatch(/HttpOnly/i);
  return setCookie.split(';')[0];
}

async function me(url: string, cookie: string): Promise<string | null> {
  const response = await fetch(`${url}/me`, { headers: { cookie } });
  return ((await response.json()) as { user: string | null }).user;
}

describe('bridge tiers with real express-session and passport', () => {
  let running: (RunningApp & { stack: ReturnType<typeof createAuthStack> }) | undefined;
  const sockets: RawSocket[] = [];
  const connect = async (cookie?: string) => {
    const socket = new RawSocket(running!.url, undefined, { headers: cookie ? { cookie } : {} });
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

  it('denies a guarded full handler to an anonymous socket and allows it with a session cookie from an HTTP login', async () => {
    running = await startAuthApp({ mode: 'full' });
    const anonymous = await connect();
    anonymous.send(`${VAULT}.reveal`);
    await anonymous.until(() => anonymous.errors.length === 1);
    expect(anonymous.errors[0]).toMatchObject({ code: 'forbidden', event: `${VAULT}.reveal`, status: 403 });
    expect(anonymous.latest(VAULT, 'secret')).toBe('');

    const cookie = await httpLogin(running.url, 'alice', 'wonderland');
    const alice = await connect(cookie);
    alice.send(`${VAULT}.reveal`);
    await alice.untilVar(VAULT, 'secret', 'the vault is open');
    alice.send(`${ACCOUNT}.whoami`);
    await alice.untilVar(ACCOUNT, 'seen', 'alice');
    // The AppState snapshot followed the live user.
    expect(alice.latest(ACCOUNT, 'isAuthenticated')).toBe(true);
    expect(alice.latest(ACCOUNT, 'username')).toBe('alice');
  });

  it('never runs the session middleware for none-tier handlers', async () => {
    // Async context on, so `currentRequest()` in FilterState.peek reaches the event and names its tier.
    running = await startAuthApp({ mode: 'full', asyncContext: true });
    const client = await connect();
    const before = running.stack.calls.session;
    for (let i = 1; i <= 5; i++) client.send(`${FILTER}.setQuery`, { value: `q${i}` });
    await client.untilVar(FILTER, 'query', 'q5');
    expect(running.stack.calls.session).toBe(before);
    client.send(`${FILTER}.peek`);
    await client.until(() => String(client.latest(FILTER, 'problem')).length > 0);
    expect(client.latest(FILTER, 'problem')).toMatch(/"none" bridge tier/);
  });

  it('runs the session middleware once for two UI-only events and one bridge-aware event in smart mode, three times in full mode', async () => {
    for (const [mode, expected] of [['smart', 1], ['full', 3]] as const) {
      running = await startAuthApp({ mode });
      const client = await connect();
      const before = running.stack.calls.session;
      client.send(`${UI}.click`);
      client.send(`${UI}.click`);
      client.send(`${ACCOUNT}.whoami`);
      await client.untilVar(ACCOUNT, 'seen', 'anonymous');
      expect(client.latest(UI, 'clicks')).toBe(2);
      expect([mode, running.stack.calls.session - before]).toEqual([mode, expected]);
      client.close();
      await running.close();
      running = undefined;
    }
  });

  it('gives a handler-level tier precedence over its class, and does not let subclasses inherit a class tier', async () => {
    running = await startAuthApp({ mode: 'full' });
    const cookie = await httpLogin(running.url, 'bob', 'builder');
    const client = await connect(cookie);
    const before = running.stack.calls.session;
    client.send(`${FILTER}.whoAsks`); // auth_only on a `none` class
    await client.untilVar(FILTER, 'query', 'bob');
    expect(running.stack.calls.session - before).toBe(1);
    client.send(`${SUB_FILTER}.setQuery`, { value: 'x' }); // subclass: the mode (full) applies
    await client.untilVar(SUB_FILTER, 'query', 'x');
    expect(running.stack.calls.session - before).toBe(2);
  });

  it('lets a resolver pick the tier, falls through on an invalid answer, and raises uploads to auth_only', async () => {
    const answers: Record<string, string> = { ReportState: 'none', UiState: 'bogus', AccountState: 'none' };
    running = await startAuthApp({ mode: 'full', resolver: (state) => answers[state.name] });
    const cookie = await httpLogin(running.url, 'alice', 'wonderland');
    const client = await connect(cookie);
    const before = running.stack.calls.session;
    client.send(`${REPORT}.visit`);
    await client.untilVar(REPORT, 'visits', 1);
    expect(running.stack.calls.session - before).toBe(0);
    client.send(`${UI}.click`); // invalid answer: the mode (full) applies
    await client.untilVar(UI, 'clicks', 1);
    expect(running.stack.calls.session - before).toBe(1);
    client.send(`${ACCOUNT}.uploadAvatar`); // the resolver says none; uploads are never below auth_only
    await client.untilVar(ACCOUNT, 'seen', 'alice');
    expect(running.stack.calls.session - before).toBe(2);
  });

  it('turns a middleware redirect into a client _redirect and does not run the handler', async () => {
    running = await startAuthApp({ mode: 'full' });
    const client = await connect();
    client.send(`${ACCOUNT}.where`, {}, { pathname: '/members/area', asPath: '/members/area', query: {} });
    await client.until(() => client.updates.some((update) => update.events?.length));
    expect(client.updates.at(-1)).toEqual({
      events: [{ name: '_redirect', payload: { path: '/login?next=/members', external: false, popup: false, replace: true } }],
    });
    expect(client.latest(ACCOUNT, 'path')).toBe('');
    client.send(`${ACCOUNT}.where`, {}, { pathname: '/shop', asPath: '/shop?page=2', query: { page: '2' } });
    await client.untilVar(ACCOUNT, 'path', '/shop?page=2');
  });

  it('runs @UsePipes pipes over the payload on the full tier', async () => {
    running = await startAuthApp({ mode: 'full' });
    const client = await connect();
    client.send(`${VAULT}.tag`, { label: '  fragile ' });
    await client.untilVar(VAULT, 'answer', 'FRAGILE');
    client.send(`${VAULT}.tag`, { label: '   ' });
    await client.until(() => client.errors.length === 1);
    expect(client.errors[0]).toMatchObject({ code: 'invalid_payload', message: 'A label is required.', status: 400 });
  });

  it('runs a handler\'s guards before its pipes: a logged-out client is refused before its payload is read', async () => {
    running = await startAuthApp({ mode: 'full' });
    const anonymous = await connect();
    anonymous.send(`${VAULT}.sealedTag`, { label: '   ' });
    await anonymous.until(() => anonymous.errors.length === 1);
    expect(anonymous.errors[0]).toMatchObject({ code: 'forbidden', event: `${VAULT}.sealedTag`, status: 403 });
    const member = await connect(await httpLogin(running.url, 'alice', 'wonderland'));
    member.send(`${VAULT}.sealedTag`, { label: '   ' });
    await member.until(() => member.errors.length === 1);
    expect(member.errors[0]).toMatchObject({ code: 'invalid_payload', message: 'A label is required.', status: 400 });
    member.send(`${VAULT}.sealedTag`, { label: ' gold ' });
    await member.untilVar(VAULT, 'answer', 'sealed GOLD');
  });

  it('runs interceptors and exception filters declared on handlers', async () => {
    running = await startAuthApp({ mode: 'full' });
    const client = await connect();
    client.send(`${VAULT}.shout`);
    await client.untilVar(VAULT, 'answer', 'set');
    client.send(`${VAULT}.buy`);
    await client.until(() => client.errors.length === 1);
    expect(client.errors[0]).toMatchObject({ code: 'handler_error', message: 'That item is out of stock.', status: 409 });
    // The handler threw: its change was not kept.
    expect(client.latest(VAULT, 'answer')).toBe('set');
  });

  it('logs in over an event: the socket is authenticated at once, and the HttpOnly cookie reaches HTTP through a single-use handoff', async () => {
    running = await startAuthApp({ mode: 'full' });
    const client = await connect();
    client.send(`${ACCOUNT}.login`, { username: 'alice', password: 'wonderland' });
    await client.untilVar(ACCOUNT, 'seen', 'alice');
    await client.until(() => client.updates.some((update) => handoffOf(update) !== undefined));
    const { url: handoff, secret } = handoffOf(client.updates.find((update) => handoffOf(update) !== undefined)!)!;
    expect(client.latest(ACCOUNT, 'isAuthenticated')).toBe(true);
    // The secret comes over the socket only, never in the URL; the tab proves itself with it and its token.
    expect(handoff).not.toContain(secret);
    const proof = { 'x-reflex-handoff': secret, 'reflex-client-token': client.token };

    const response = await fetch(`${running.url}${handoff}`, { method: 'POST', headers: proof });
    expect(response.status).toBe(200);
    const setCookie = response.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^connect\.sid=/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(await me(running.url, setCookie.split(';')[0])).toBe('alice');

    // Replaying the handoff is refused.
    const replay = await fetch(`${running.url}${handoff}`, { method: 'POST', headers: proof });
    expect(replay.status).toBe(410);
    expect(replay.headers.get('set-cookie')).toBeNull();

    // The same socket's later events see the new session, guards included.
    client.send(`${VAULT}.reveal`);
    await client.untilVar(VAULT, 'secret', 'the vault is open');
  });

  it('logs out over an event: the next event is anonymous and guarded handlers deny it', async () => {
    running = await startAuthApp({ mode: 'full' });
    const cookie = await httpLogin(running.url, 'alice', 'wonderland');
    const client = await connect(cookie);
    client.send(`${ACCOUNT}.whoami`);
    await client.untilVar(ACCOUNT, 'seen', 'alice');
    client.send(`${ACCOUNT}.logout`);
    await client.untilVar(ACCOUNT, 'isAuthenticated', false);
    client.send(`${ACCOUNT}.whoami`);
    client.send(`${VAULT}.reveal`);
    await client.until(() => client.errors.length === 1);
    expect(client.errors[0].code).toBe('forbidden');
    expect(client.latest(ACCOUNT, 'seen')).toBe('anonymous');
    // The old cookie no longer authenticates HTTP either.
    expect(await me(running.url, cookie)).toBeNull();
  });

  it('treats a forged, tampered or expired session cookie as anonymous, never as an error or another user', async () => {
    running = await startAuthApp({ mode: 'full' }, createAuthStack({ maxAgeMs: 1500 }));
    const real = await httpLogin(running.url, 'alice', 'wonderland');
    const [name, value] = real.split('=');
    const forged = `${name}=s%3Aforged-session-id.invalidsignature`;
    const tampered = `${name}=${value.replace(/%3A(.)/, (_, first: string) => `%3A${first === 'a' ? 'b' : 'a'}`)}`;
    for (const cookie of [forged, tampered, `${name}=garbage`]) {
      const client = await connect(cookie);
      client.send(`${ACCOUNT}.whoami`);
      await client.untilVar(ACCOUNT, 'seen', 'anonymous');
      expect(client.errors).toEqual([]);
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const expired = await connect(real);
    expired.send(`${ACCOUNT}.whoami`);
    await expired.untilVar(ACCOUNT, 'seen', 'anonymous');
    expect(expired.errors).toEqual([]);
  });

  it('re-authenticates every live connection of a session when it logs out over HTTP, with no app code', async () => {
    running = await startAuthApp({ mode: 'full' });
    const cookie = await httpLogin(running.url, 'alice', 'wonderland');
    const tabs = [await connect(cookie), await connect(cookie)];
    for (const tab of tabs) {
      tab.send(`${ACCOUNT}.whoami`);
      await tab.untilVar(ACCOUNT, 'isAuthenticated', true);
    }
    const response = await fetch(`${running.url}/logout`, { method: 'POST', headers: { cookie } });
    expect(response.status).toBe(200);
    // Pushed by the logout itself: nothing else tells an idle tab, so the default wait proves it as well as 1 s did.
    for (const tab of tabs) await tab.untilVar(ACCOUNT, 'isAuthenticated', false);
    tabs[0].send(`${VAULT}.reveal`);
    await tabs[0].until(() => tabs[0].errors.length === 1);
    expect(tabs[0].errors[0].code).toBe('forbidden');
  });

  it('disconnects the live connections of an ended session with sessionEndAction "disconnect"', async () => {
    running = await startAuthApp({ mode: 'full', sessionEndAction: 'disconnect' });
    const cookie = await httpLogin(running.url, 'bob', 'builder');
    const tab = await connect(cookie);
    tab.send(`${ACCOUNT}.whoami`);
    await tab.untilVar(ACCOUNT, 'seen', 'bob');
    const disconnected = reconnectLikeStateJs(tab.socket);
    await fetch(`${running.url}/logout`, { method: 'POST', headers: { cookie } });
    // Dropped so that Reflex's state.js reconnects by itself (it does not after a server's Socket.IO disconnect),
    // and hydrates again: the tab goes on, anonymous (on a new token: its old one was bound to the ended session).
    expect(STATE_JS_FINAL_REASONS).not.toContain(await disconnected);
    await eventually('the tab to reconnect as state.js does', () => tab.socket.connected, Boolean);
    await tab.hydrate();
    tab.send(`${ACCOUNT}.whoami`);
    await tab.untilVar(ACCOUNT, 'seen', 'anonymous');
  });

  it('keeps the seeded users intact for other tests', () => {
    expect(USERS.map((user) => user.username)).toEqual(['alice', 'bob']);
    expect(ALL_STATES.length).toBe(6);
  });
});
