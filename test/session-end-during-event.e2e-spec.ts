/**
 * A session that ends while one of its events runs: a logout in another tab, over HTTP, while this tab's event waits
 * (a slow API call) and then writes to the session. The logout must stick: the event must not save the ended session
 * back into the store, where its cookie (this tab's, or one left on a shared computer) would be logged in again.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EventHandler, EventSession, EventUploads, ReflexBridgeModule, State, type UploadFile } from '@reflex-bridge/nest';
import { AccountState, createAuthStack, mountHttpAuth } from './fixtures/auth-app.js';
import { startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';

const ACCOUNT = 'reflex___state____state.account_state';
const WIZARD = 'reflex___state____state.wizard_state';
const AVATAR = 'reflex___state____state.avatar_state';

/** The gate {@link WizardState.saveStep} waits on; a test replaces it before sending the event. */
const GATE = { released: Promise.resolve(), release: () => {}, held: 0 };

/** A form wizard that keeps its step in the session, after a slow check of the step. */
@State()
class WizardState {
  saved = 0;

  @EventHandler()
  async saveStep(@EventSession() session: Record<string, unknown>): Promise<void> {
    GATE.held += 1;
    await GATE.released;
    session.wizardStep = 2;
    this.saved += 1;
  }
}

/** An avatar upload that notes the file in the session, after a slow check of it. */
@State()
class AvatarState {
  uploaded = 0;

  @EventHandler()
  async attach(@EventUploads() files: UploadFile[], @EventSession() session: Record<string, unknown>): Promise<void> {
    GATE.held += 1;
    await GATE.released;
    session.avatar = files[0]?.name;
    this.uploaded += 1;
  }
}

async function login(url: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  return response.headers.get('set-cookie')!.split(';')[0];
}

async function userOf(url: string, cookie: string): Promise<string | null> {
  const response = await fetch(`${url}/me`, { headers: { cookie } });
  return ((await response.json()) as { user: string | null }).user;
}

describe('a session that ends while one of its events runs', () => {
  let app: RunningApp;
  const sockets: RawSocket[] = [];
  beforeAll(async () => {
    const stack = createAuthStack();
    app = await startApp(
      { imports: [ReflexBridgeModule.forRoot({ bridge: { authMiddleware: stack.authMiddleware } })], providers: [WizardState, AvatarState, AccountState] },
      (nest) => mountHttpAuth(nest, stack),
    );
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await app.close();
  });

  it('stays ended when the event writes to the session after the logout', async () => {
    const cookie = await login(app.url, 'alice', 'wonderland');
    expect(await userOf(app.url, cookie)).toBe('alice');
    const tab = new RawSocket(app.url, undefined, { headers: { cookie } });
    sockets.push(tab);
    await tab.connected();
    await tab.hydrate();
    tab.send(`${ACCOUNT}.whoami`);
    await tab.untilVar(ACCOUNT, 'isAuthenticated', true);
    GATE.released = new Promise<void>((resolve) => (GATE.release = resolve));
    const held = GATE.held;
    tab.send(`${WIZARD}.saveStep`);
    await tab.until(() => GATE.held > held, undefined, 'the event to run');
    try {
      // Alice logs out in another tab while the event waits.
      const loggedOut = await fetch(`${app.url}/logout`, { method: 'POST', headers: { cookie } });
      expect(loggedOut.status).toBe(200);
    } finally {
      GATE.release();
    }
    await tab.untilVar(WIZARD, 'saved', 1);
    // Run after the event ended (its session saved or not) and after the tab's re-authentication queued behind it.
    tab.send(`${ACCOUNT}.whoami`);
    tab.send(`${ACCOUNT}.where`);
    await tab.until(() => tab.latest(ACCOUNT, 'path') !== '' && tab.latest(ACCOUNT, 'path') !== undefined, undefined, 'where to answer');
    // The tab shows the logout, and its old cookie logs nobody in.
    expect(tab.latest(ACCOUNT, 'seen')).toBe('anonymous');
    expect(tab.latest(ACCOUNT, 'isAuthenticated')).toBe(false);
    expect(await userOf(app.url, cookie)).toBeNull();
  });

  it('stays ended when an upload writes to the session after the logout', async () => {
    const cookie = await login(app.url, 'alice', 'wonderland');
    const tab = new RawSocket(app.url, undefined, { headers: { cookie } });
    sockets.push(tab);
    await tab.connected();
    await tab.hydrate();
    GATE.released = new Promise<void>((resolve) => (GATE.release = resolve));
    const held = GATE.held;
    const form = new FormData();
    form.append('files', new Blob(['avatar']), 'me.png');
    const upload = fetch(`${app.url}/_upload`, {
      method: 'POST',
      headers: { 'Reflex-Client-Token': tab.token, 'Reflex-Event-Handler': `${AVATAR}.attach`, cookie },
      body: form,
    });
    await tab.until(() => GATE.held > held, undefined, 'the upload handler to run');
    try {
      // Alice logs out in another tab while the upload's handler waits.
      const loggedOut = await fetch(`${app.url}/logout`, { method: 'POST', headers: { cookie } });
      expect(loggedOut.status).toBe(200);
    } finally {
      GATE.release();
    }
    const answered = await upload;
    expect(answered.status).toBe(200);
    expect(await answered.text()).toContain('uploaded');
    // The upload's answer ended (its session saved or not): the old cookie logs nobody in.
    expect(await userOf(app.url, cookie)).toBeNull();
  });
});
