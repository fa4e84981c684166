/**
 * A Node script on @reflex-bridge/client that logs in over an event and then uploads: Node has no cookie jar, so the
 * session cookie the login hands over is dropped unless the script keeps it. The client README's recipe for that is
 * run here as written (its code block, transpiled), against a real app with express-session and passport.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { EventHandler, EventUploads, EventUser, ReflexBridgeModule, State, type UploadFile } from '@reflex-bridge/nest';
import { ReflexClient, UploadRequestError } from '@reflex-bridge/client';
import { AccountState, createAuthStack, mountHttpAuth, type DemoUser } from './fixtures/auth-app.js';
import { startApp, type RunningApp } from './support/app.js';
import { eventually } from './support/eventually.js';

const readmePath = join(dirname(fileURLToPath(import.meta.url)), '..', 'libs', 'reflex-client', 'README.md');
const ACCOUNT = 'reflex___state____state.account_state';
const AVATAR = 'reflex___state____state.avatar_state';

/** An upload handler that shows whose session the upload ran in. */
@State()
class AvatarState {
  uploadedBy = '';

  @EventHandler()
  attach(@EventUploads() files: UploadFile[], @EventUser() user?: DemoUser): void {
    this.uploadedBy = `${user?.username ?? 'anonymous'}:${files.length}`;
  }
}

/** The README's Node cookie recipe (the TypeScript block after "Node has no cookie jar"), ready to run. */
function readmeCookieRecipe(): (url: string) => { client: ReflexClient; headers: Record<string, string> } {
  const readme = readFileSync(readmePath, 'utf8');
  const block = /Node has no cookie jar[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('the client README has no Node cookie recipe after "Node has no cookie jar"');
  const js = ts.transpileModule(block, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
  return (url) => {
    const source = js.replace("'http://localhost:3000'", JSON.stringify(url));
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the README's own example, run as written
    const run = new Function('ReflexClient', `${source}\nreturn { client, headers };`) as (
      ctor: typeof ReflexClient,
    ) => { client: ReflexClient; headers: Record<string, string> };
    return run(ReflexClient);
  };
}

describe('a Node client that logs in over an event, then uploads', () => {
  let running: RunningApp | undefined;
  const clients: ReflexClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    await running?.close();
    running = undefined;
  });

  async function start(): Promise<RunningApp> {
    const stack = createAuthStack();
    running = await startApp(
      {
        imports: [ReflexBridgeModule.forRoot({ bridge: { authMiddleware: stack.authMiddleware } })],
        providers: [AccountState, AvatarState],
      },
      (app) => mountHttpAuth(app, stack),
    );
    return running;
  }

  async function logInOverEvent(client: ReflexClient): Promise<void> {
    await client.connect();
    client.call(ACCOUNT, 'login', { username: 'alice', password: 'wonderland' });
    await client.waitFor(ACCOUNT, (vars) => vars.seen === 'alice', 15_000);
  }

  const file = { name: 'avatar.txt', data: Buffer.from('hello'), size: 5 };

  it('with the README recipe, keeps the session cookie: the upload runs as the user who logged in', async () => {
    const app = await start();
    const { client, headers } = readmeCookieRecipe()(app.url);
    clients.push(client);
    await logInOverEvent(client);
    await eventually('the handed-over session cookie in extraHeaders', () => headers.cookie ?? '', (cookie) => cookie.includes('connect.sid='));

    await client.upload(AVATAR, 'attach', [file]);
    await client.waitFor(AVATAR, (vars) => vars.uploadedBy === 'alice:1', 15_000);
  }, 60_000);

  it('without it, the upload is refused with 403 forbidden, saying it carries no cookies', async () => {
    const app = await start();
    const handoffs: number[] = [];
    const client = new ReflexClient({
      url: app.url,
      // The default handoff, observed: a fetch POST whose Set-Cookie Node drops.
      sessionCookieHandoff: async (url, handoff) => void handoffs.push((await fetch(url, { method: 'POST', headers: handoff.headers })).status),
    });
    clients.push(client);
    await logInOverEvent(client);
    await eventually('the session cookie handoff', () => handoffs, (seen) => seen.length === 1);
    expect(handoffs).toEqual([200]);

    const refusal = await client.upload(AVATAR, 'attach', [file]).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(UploadRequestError);
    expect(refusal).toMatchObject({ status: 403, code: 'forbidden' });
    expect((refusal as UploadRequestError).detail).toContain('this upload carries no cookies: send it with the session cookie');
    expect(client.state(AVATAR)?.['uploadedBy']).toBe('');
  }, 60_000);
});
