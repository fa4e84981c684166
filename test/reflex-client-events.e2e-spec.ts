/**
 * What Reflex's own client (state.js, unmodified) receives for refused events and for a login over an event, pinned
 * at the wire: every client event is one state.js runs itself (it sends any other name back to the server), errors
 * arrive as a `_call_function` that shows the message (toast, or alert without a toaster), and the login cookie
 * arrives as a `_call_function` whose function, run as state.js runs it, sets the HttpOnly cookie.
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { createContext, runInContext } from 'node:vm';
import {
  BridgeErrorPresenter,
  EventHandler,
  ReflexBridgeModule,
  State,
  redirect,
  type BridgeErrorPayload,
  type ClientEvent,
  type ReflexBridgeModuleOptions,
} from '@reflex-bridge/nest';
import { ALL_STATES, LoggedInGuard, ShoutInterceptor, createAuthStack, mountHttpAuth } from './fixtures/auth-app.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket, type Update } from './support/raw-socket.js';
import { eventually } from './support/eventually.js';
import { ReflexClient } from '@reflex-bridge/client';
import { REFUSAL_NOTICE_EVERY_MS } from '../libs/reflex-bridge/src/pipeline/refusal-notices.js';

const ROOT = 'reflex___state____state';
const ACCOUNT = `${ROOT}.account_state`;
const VAULT = `${ROOT}.vault_state`;
const FAULTY = `${ROOT}.faulty_state`;
const FRONTEND = 'http://localhost:5173';

/** The frontend events state.js's `applyEvent` handles itself (read from its code). */
const STATE_JS_EVENTS = new Set([
  '_redirect', '_call_function', '_call_script', '_remove_cookie', '_clear_local_storage', '_remove_local_storage',
  '_clear_session_storage', '_remove_session_storage', '_download', '_set_focus', '_blur_focus', '_set_value',
]);

@State()
class FaultyState {
  tries = 0;

  @EventHandler()
  explode(): void {
    this.tries++;
    throw new Error('db password is hunter2 </script><script>alert(1)</script>');
  }
}

/** Sends users to the login page when a guard refuses them, and keeps unknown handlers quiet. */
@Injectable()
class LoginRedirectPresenter extends BridgeErrorPresenter {
  override present(error: BridgeErrorPayload): ClientEvent[] {
    if (error.code === 'forbidden') return [redirect('/login')];
    if (error.code === 'unknown_handler') return [];
    return super.present(error);
  }
}

/** What a page saw while running one `_call_function` as state.js does (`eval(payload.function)()`, strict code). */
interface PageRun {
  alerts: unknown[][];
  toasts: Array<{ level: string; args: unknown[] }>;
}

function runFunction(event: { payload: Record<string, unknown> }, page: { toaster: boolean }): PageRun {
  const run: PageRun = { alerts: [], toasts: [] };
  const sandbox: Record<string, unknown> = { window: { alert: (...args: unknown[]) => void run.alerts.push(args) } };
  if (page.toaster) sandbox.refs = { __toast: { error: (...args: unknown[]) => void run.toasts.push({ level: 'error', args }) } };
  const fn = runInContext(`"use strict";\n${String(event.payload.function)}`, createContext(sandbox)) as () => unknown;
  fn();
  return run;
}

/** Every client event any socket of this file received. */
const allUpdates: Update[] = [];

describe('Reflex client events on the wire', () => {
  const apps: RunningApp[] = [];
  const sockets: RawSocket[] = [];

  const start = async (options: ReflexBridgeModuleOptions = {}): Promise<RunningApp> => {
    const stack = createAuthStack();
    const running = await startApp(
      {
        imports: [ReflexBridgeModule.forRoot({ ...options, bridge: { authMiddleware: stack.authMiddleware, ...options.bridge } })],
        providers: [...ALL_STATES, FaultyState, LoggedInGuard, ShoutInterceptor],
      },
      (app) => mountHttpAuth(app, stack),
      new CapturingLogger(), // the failing handler's stack is logged, as it should be; not into the test output
    );
    apps.push(running);
    return running;
  };

  const connect = async (running: RunningApp, headers: Record<string, string> = {}): Promise<RawSocket> => {
    const socket = new RawSocket(running.url, undefined, { headers });
    sockets.push(socket);
    await socket.connected();
    await socket.hydrate();
    return socket;
  };

  /** The events of the updates after `from` that present an error (they carry it under `bridge_error`). */
  const presented = (socket: RawSocket, from: number) =>
    socket.updates.slice(from).flatMap((update) => update.events ?? []).filter((event) => event.payload['bridge_error'] !== undefined);

  afterEach(async () => {
    for (const socket of sockets.splice(0)) {
      allUpdates.push(...socket.updates);
      socket.close();
    }
    for (const running of apps.splice(0)) await running.close();
  });

  afterAll(() => {
    // No frame of this file carried an event state.js would bounce back to the server.
    const names = allUpdates.flatMap((update) => update.events ?? []).map((event) => event.name);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => !STATE_JS_EVENTS.has(name))).toEqual([]);
  });

  it('a guard\'s refusal and an unknown handler reach a Reflex page as a toast (or an alert without a toaster), with the structured error beside it', async () => {
    const running = await start();
    const tab = await connect(running);

    let from = tab.updates.length;
    tab.send(`${VAULT}.reveal`);
    await tab.until(() => presented(tab, from).length === 1 && tab.errors.length === 1, undefined, 'the forbidden presentation');
    const forbidden = tab.errors[0]!;
    expect(forbidden).toMatchObject({ code: 'forbidden', event: `${VAULT}.reveal` });
    const [toastEvent] = presented(tab, from);
    expect(toastEvent).toEqual({ name: '_call_function', payload: { function: expect.any(String), callback: null, bridge_error: forbidden } });
    // Run as state.js would: on a page with Reflex's toaster, and on one without.
    expect(runFunction(toastEvent!, { toaster: true })).toEqual({ alerts: [], toasts: [{ level: 'error', args: [forbidden.message, { id: 'bridge_error', position: 'top-center' }] }] });
    expect(runFunction(toastEvent!, { toaster: false })).toEqual({ alerts: [[forbidden.message]], toasts: [] });
    expect(tab.latest(VAULT, 'secret')).toBe('');

    from = tab.updates.length;
    tab.send(`${VAULT}.nope`);
    await tab.until(() => presented(tab, from).length === 1 && tab.errors.length === 2, undefined, 'the unknown_handler presentation');
    expect(tab.errors[1]).toMatchObject({ code: 'unknown_handler', event: `${VAULT}.nope` });
    expect(runFunction(presented(tab, from)[0]!, { toaster: false }).alerts).toEqual([[tab.errors[1]!.message]]);
  });

  it('a rate-limited event is shown with its retry time; the structured error carries retryAfterMs', async () => {
    const running = await start({ rateLimit: { perConnection: { limit: 4, ttlMs: 60_000 } } });
    const tab = await connect(running); // hydrate and on_load_internal: 2 of the 4
    const from = tab.updates.length;
    for (let i = 0; i < 4; i++) tab.send(`${ROOT}.ui_state.click`);
    await tab.until(() => tab.errors.some((error) => error.code === 'rate_limited') && presented(tab, from).length >= 1, undefined, 'rate_limited');
    const limited = tab.errors.find((error) => error.code === 'rate_limited')!;
    expect(limited.retryAfterMs).toBeGreaterThan(0);
    const shown = presented(tab, from)[0]!;
    expect(shown.payload['bridge_error']).toEqual(limited);
    expect(runFunction(shown, { toaster: false }).alerts).toEqual([[limited.message]]);
  });

  it('@reflex-bridge/client reports each refused event once to onError and runs none of the toasts, those shown again after REFUSAL_NOTICE_EVERY_MS included', async () => {
    const running = await start({ rateLimit: { perConnection: { limit: 4, ttlMs: 120_000 } } });
    const errors: Array<{ code: string }> = [];
    // The app's own handler of client events (what it runs, as a Reflex page runs them): never given a presentation.
    const run: unknown[] = [];
    const client = new ReflexClient({ url: running.url, onClientEvent: (event) => void run.push(event) });
    let presentations = 0;
    client.onError((error) => errors.push(error));
    client.onEvent((update) => {
      presentations += (update.events ?? []).filter((event) => (event.payload as Record<string, unknown> | undefined)?.['bridge_error'] !== undefined).length;
    });
    try {
      await client.connect();
      let sent = 0;
      // Clicks past the budget, until the server presented a refusal a second time (REFUSAL_NOTICE_EVERY_MS after the first).
      await eventually(
        'a refusal presented twice',
        () => {
          client.call(`${ROOT}.ui_state`, 'click');
          sent++;
          return presentations;
        },
        (n) => n >= 2,
        4 * REFUSAL_NOTICE_EVERY_MS + 15_000,
      );
      const clicks = () => (client.state<{ clicks: number }>(`${ROOT}.ui_state`)?.clicks ?? 0) + errors.length;
      await eventually('every click answered', clicks, (n) => n === sent);
      expect(errors.length).toBeGreaterThan(1);
      expect(errors.every((error) => error.code === 'rate_limited')).toBe(true);
      // The presentations only present errors it already reported: none reached the app's client-event listeners.
      expect(run).toEqual([]);
    } finally {
      client.disconnect();
    }
  }, 60_000);

  it('in production a failing handler is shown as a generic message: no exception text, no stack, nothing that runs', async () => {
    const running = await start({ production: true });
    const tab = await connect(running);
    const from = tab.updates.length;
    tab.send(`${FAULTY}.explode`);
    await tab.until(() => presented(tab, from).length === 1, undefined, 'the handler_error presentation');
    const [shown] = presented(tab, from);
    expect(tab.errors[0]).toEqual({ code: 'handler_error', message: 'An error occurred while handling the event.', event: `${FAULTY}.explode` });
    const frame = JSON.stringify(tab.updates.slice(from));
    expect(frame).not.toMatch(/hunter2|<\/script|at .*\.ts:\d+/);
    expect(runFunction(shown!, { toaster: false }).alerts).toEqual([['An error occurred while handling the event.']]);
  });

  it('in development the exception message is shown, encoded: it arrives as text and runs nothing', async () => {
    const running = await start();
    const tab = await connect(running);
    const from = tab.updates.length;
    tab.send(`${FAULTY}.explode`);
    await tab.until(() => presented(tab, from).length === 1, undefined, 'the handler_error presentation');
    const [shown] = presented(tab, from);
    expect(String(shown!.payload['function'])).not.toContain('</script');
    expect(runFunction(shown!, { toaster: false }).alerts).toEqual([['Error: db password is hunter2 </script><script>alert(1)</script>']]);
  });

  it('the errorPresenter option changes the presentation: a redirect for a refusal, nothing for an unknown handler', async () => {
    const running = await start({ errorPresenter: LoginRedirectPresenter });
    const tab = await connect(running);
    const from = tab.updates.length;
    tab.send(`${VAULT}.reveal`);
    await tab.until(() => presented(tab, from).length === 1, undefined, 'the redirect');
    expect(presented(tab, from)[0]).toEqual({
      name: '_redirect',
      payload: { path: '/login', external: false, popup: false, replace: false, bridge_error: tab.errors[0] },
    });
    tab.send(`${VAULT}.nope`);
    tab.send(`${ROOT}.ui_state.click`);
    await tab.untilVar(`${ROOT}.ui_state`, 'clicks', 1);
    expect(tab.errors.map((error) => error.code)).toEqual(['forbidden', 'unknown_handler']);
    expect(presented(tab, from)).toHaveLength(1);
  });

  it('a login over an event hands the cookie over through a _call_function; running it as state.js does sets the HttpOnly cookie, and a reconnect is logged in', async () => {
    const running = await start({ corsOrigins: [FRONTEND] });
    // The Reflex frontend is served from its own origin (Reflex's dev server), the backend from another.
    const tab = await connect(running, { origin: FRONTEND });
    tab.send(`${ACCOUNT}.login`, { username: 'alice', password: 'wonderland' });
    const handoff = await tab.untilHandoff();
    const event = tab.updates.flatMap((update) => update.events ?? []).find((candidate) => candidate.payload['bridge_session_cookie'] !== undefined)!;
    expect(event).toEqual({ name: '_call_function', payload: { function: expect.any(String), callback: null, bridge_session_cookie: { url: handoff.url, secret: handoff.secret } } });
    expect(handoff.url).not.toContain(handoff.secret);

    // The page: the frontend's origin, state.js's token in sessionStorage, a cookie jar, and a fetch to the real
    // server that sends what a browser sends on a credentialed cross-origin POST.
    const jar = new Map<string, string>();
    const setCookies: string[] = [];
    const requests: Array<{ url: string; method: string; credentials: string; headers: Record<string, string> }> = [];
    const browserFetch = async (url: URL, init: { method: string; credentials: string; headers: Record<string, string> }) => {
      requests.push({ url: String(url), ...init });
      const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
      const response = await fetch(url, { method: init.method, headers: { ...init.headers, origin: FRONTEND, 'sec-fetch-site': 'cross-site', ...(cookie ? { cookie } : {}) } });
      for (const line of response.headers.getSetCookie()) {
        setCookies.push(line);
        const [pair] = line.split(';');
        jar.set(pair!.slice(0, pair!.indexOf('=')), pair!.slice(pair!.indexOf('=') + 1));
      }
      return { ok: response.ok, status: response.status };
    };
    const errors: unknown[] = [];
    const context = createContext({
      URL,
      String,
      fetch: browserFetch,
      console: { error: (...args: unknown[]) => void errors.push(args) },
      window: { location: { href: `${FRONTEND}/login` }, sessionStorage: { getItem: (key: string) => (key === 'token' ? tab.token : null) } },
    });
    await (runInContext(`"use strict";\n${String(event.payload['function'])}`, context) as () => Promise<unknown>)();

    expect(errors).toEqual([]);
    expect(requests).toEqual([
      {
        url: `${running.url}${handoff.url}`,
        method: 'POST',
        credentials: 'include',
        headers: { 'x-reflex-handoff': handoff.secret, 'reflex-client-token': tab.token },
      },
    ]);
    expect(setCookies).toHaveLength(1);
    expect(setCookies[0]).toMatch(/^connect\.sid=.*; HttpOnly/i);

    // Spent: running the same function again changes nothing.
    await (runInContext(`"use strict";\n${String(event.payload['function'])}`, context) as () => Promise<unknown>)();
    expect(setCookies).toHaveLength(1);
    expect(errors).toEqual([[expect.stringContaining('handoff failed'), 410]]);

    // A reconnect (or a reload) carries the cookie in its handshake: logged in.
    const again = await connect(running, { origin: FRONTEND, cookie: `connect.sid=${jar.get('connect.sid')}` });
    again.send(`${ACCOUNT}.whoami`);
    await again.untilVar(ACCOUNT, 'seen', 'alice');
    expect(again.latest(ACCOUNT, 'isAuthenticated')).toBe(true);
  });
});
