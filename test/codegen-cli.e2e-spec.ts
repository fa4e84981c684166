/**
 * `reflex-bridge codegen` (the built CLI, as `npx reflex-bridge` runs it) against app modules that misbehave: the
 * command must end with a message and exit code 1, never hang and never report success having written nothing.
 * Builds the monorepo first (as `npm run build` does), so it runs in any order on a clean checkout.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildShop } from './support/shop-workers.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(repoRoot, 'libs/reflex-bridge/dist/codegen/reflex-bridge.cli.js');

/** A root module (plain JavaScript, as the app's build writes it) whose one provider runs `hook` at boot. */
function appWithHook(hook: string): string {
  return `import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
class Database { onModuleInit() { ${hook} } }
Injectable()(Database);
class AppModule {}
Module({ imports: [ReflexBridgeModule.forRoot()], providers: [Database] })(AppModule);
export default AppModule;
`;
}

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function codegen(...args: string[]): Promise<CliRun> {
  return new Promise((done) => {
    // Killed before the test's own limit, so a command that hangs fails its test and leaves no process behind.
    execFile(process.execPath, [cli, 'codegen', ...args], { cwd: repoRoot, timeout: 50_000 }, (error, stdout, stderr) => {
      done({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

describe('reflex-bridge codegen with a misbehaving app module', () => {
  let dir = '';

  beforeAll(async () => {
    await buildShop();
    // Inside the repository, so the app's imports resolve to this build (node_modules/@reflex-bridge/nest).
    await mkdir(join(repoRoot, '.tmp'), { recursive: true });
    dir = await mkdtemp(join(repoRoot, '.tmp', 'codegen-cli-'));
    await writeFile(join(dir, 'package.json'), '{"type":"module"}');
  }, 200_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes the module for a well-behaved app (the baseline)', async () => {
    await writeFile(join(dir, 'good.js'), appWithHook(''));
    const run = await codegen('--app', join(dir, 'good.js'), '--out', join(dir, 'good.ts'));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(existsSync(join(dir, 'good.ts'))).toBe(true);
  }, 60_000);

  it('fails, naming the file, when the app module awaits a promise nothing will settle', async () => {
    await writeFile(join(dir, 'stuck-import.js'), 'await new Promise(() => {});\nexport default class AppModule {}\n');
    const run = await codegen('--app', join(dir, 'stuck-import.js'), '--out', join(dir, 'stuck-import.ts'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('reflex-bridge codegen failed: the app never finished importing');
    expect(run.stderr).toContain('stuck-import.js');
    expect(existsSync(join(dir, 'stuck-import.ts'))).toBe(false);
  }, 60_000);

  it('fails when a provider hook returns a promise that never settles', async () => {
    await writeFile(join(dir, 'stuck-hook.js'), appWithHook('return new Promise(() => {});'));
    const run = await codegen('--app', join(dir, 'stuck-hook.js'), '--out', join(dir, 'stuck-hook.ts'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('the app never finished booting the app module');
  }, 60_000);

  // The test's own limit (60 s) is many times the command's (1 s): a hang fails it, a slow machine does not. On a
  // loaded machine the import alone may outlast 1 s, so either step may be named (the stuck-hook case above names
  // the boot step without a race).
  it('gives up after --timeout when a provider waits on a server that never answers', async () => {
    await writeFile(join(dir, 'waiting.js'), appWithHook('setInterval(() => {}, 1000); return new Promise(() => {});'));
    const run = await codegen('--app', join(dir, 'waiting.js'), '--out', join(dir, 'waiting.ts'), '--timeout', '1');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/reflex-bridge codegen failed: still (booting the app module|importing \S*waiting\.js)/);
    expect(run.stderr).toContain('after 1 s (--timeout)');
    expect(existsSync(join(dir, 'waiting.ts'))).toBe(false);
  }, 60_000);

  // A hook that never yields blocked the thread --timeout's timer ran on: the command hung (killed at 50 s).
  it('gives up after --timeout when a provider loops for ever without yielding', async () => {
    await writeFile(join(dir, 'spinning.js'), appWithHook('for (;;) {}'));
    const run = await codegen('--app', join(dir, 'spinning.js'), '--out', join(dir, 'spinning.ts'), '--timeout', '5');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('reflex-bridge codegen failed: still ');
    expect(run.stderr).toContain('after 5 s (--timeout)');
    expect(existsSync(join(dir, 'spinning.ts'))).toBe(false);
  }, 60_000);

  // A getter looping for ever never yields to the event loop: --timeout's timer could not fire, and the command hung
  // (still running when killed at 50 s with --timeout 20). Its getter gets half of --timeout, 15 s, while the boot
  // before it takes about one (a few on a loaded machine: the other half is theirs).
  it('gives up after --timeout, naming the getter, when a computed var never returns', async () => {
    await writeFile(
      join(dir, 'looping.js'),
      `import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { ReflexBridgeModule, State } from '@reflex-bridge/nest';
class LoopState { value = 1; get total() { for (;;) {} } }
State()(LoopState);
class AppModule {}
Module({ imports: [ReflexBridgeModule.forRoot()], providers: [LoopState] })(AppModule);
export default AppModule;
`,
    );
    const run = await codegen('--app', join(dir, 'looping.js'), '--out', join(dir, 'looping.ts'), '--timeout', '30');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('LoopState.total: the getter did not return within 15000 ms');
    expect(existsSync(join(dir, 'looping.ts'))).toBe(false);
  }, 90_000);

  it('refuses an --out that is the --app file, leaving the app as it was', async () => {
    const app = appWithHook('');
    await writeFile(join(dir, 'same.js'), app);
    const run = await codegen('--app', join(dir, 'same.js'), '--out', join(dir, 'same.js'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('is the same file as the input');
    expect(await readFile(join(dir, 'same.js'), 'utf8')).toBe(app);
  }, 60_000);

  // Node 20 refuses the extension; Node 22.18 and later strip the types and stop at the decorator (a SyntaxError), or
  // load a source without one, which then holds no Nest module.
  it.each([
    ['a class', 'export class AppModule {}\n'],
    ['a decorated module', "import { Module } from '@nestjs/common';\n@Module({})\nexport class AppModule {}\n"],
  ])('says to pass the built JavaScript when --app is a TypeScript source (%s) Node cannot load', async (_, source) => {
    await writeFile(join(dir, 'app.module.ts'), source);
    const run = await codegen('--app', join(dir, 'app.module.ts'), '--out', join(dir, 'from-source.ts'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('app.module.ts is TypeScript, which Node cannot load here: pass the built JavaScript file');
  }, 60_000);

  // Before: "process.chdir() is not supported in workers", which told neither that codegen runs the app in a worker
  // nor what to do about it.
  it('names the worker thread and the ways out when the app calls what Node refuses in workers, and --main-thread runs it', async () => {
    await writeFile(join(dir, 'chdir.js'), appWithHook(`process.chdir(${JSON.stringify(dir)});`));
    const run = await codegen('--app', join(dir, 'chdir.js'), '--out', join(dir, 'chdir.ts'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('process.chdir() is not supported in workers');
    expect(run.stderr).toContain('worker thread');
    expect(run.stderr).toContain('--main-thread');
    expect(run.stderr).toContain('isMainThread');
    expect(existsSync(join(dir, 'chdir.ts'))).toBe(false);
    const main = await codegen('--app', join(dir, 'chdir.js'), '--out', join(dir, 'chdir.ts'), '--main-thread');
    expect(main).toMatchObject({ code: 0, stderr: '' });
    expect(existsSync(join(dir, 'chdir.ts'))).toBe(true);
  }, 60_000);

  it('--main-thread still gives up after --timeout when a provider waits on a server that never answers', async () => {
    await writeFile(join(dir, 'waiting-main.js'), appWithHook('setInterval(() => {}, 1000); return new Promise(() => {});'));
    const run = await codegen('--app', join(dir, 'waiting-main.js'), '--out', join(dir, 'waiting-main.ts'), '--timeout', '1', '--main-thread');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('after 1 s (--timeout)');
    expect(existsSync(join(dir, 'waiting-main.ts'))).toBe(false);
  }, 60_000);

  // Before: "the app never finished booting ...: it awaits a promise that nothing is left to settle".
  it('says that the app called process.exit() while it booted, with the code', async () => {
    await writeFile(join(dir, 'exiting.js'), appWithHook('process.exit(3);'));
    const run = await codegen('--app', join(dir, 'exiting.js'), '--out', join(dir, 'exiting.ts'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('the app called process.exit(3) while booting the app module');
    expect(existsSync(join(dir, 'exiting.ts'))).toBe(false);
  }, 60_000);

  it('refuses an --out that is one of the declaration files it reads, leaving it as it was', async () => {
    const declarations = join(dir, 'types');
    await mkdir(declarations, { recursive: true });
    const declared = 'export declare class CartState { lines: string[]; }\n';
    await writeFile(join(declarations, 'cart.state.d.ts'), declared);
    await writeFile(join(dir, 'declared.js'), appWithHook(''));
    const run = await codegen('--app', join(dir, 'declared.js'), '--out', join(declarations, 'cart.state.d.ts'), '--declarations', declarations);
    // Before: exit 0, the app's declarations replaced by the generated module (read again by the next run).
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('is the same file as the input');
    expect(await readFile(join(declarations, 'cart.state.d.ts'), 'utf8')).toBe(declared);
  }, 60_000);

  // Before: "ENOTDIR: not a directory, scandir ..." once the app had been booted.
  it('refuses a --declarations that is not a folder, before booting the app', async () => {
    const run = await codegen('--app', join(dir, 'good.js'), '--out', join(dir, 'never.ts'), '--declarations', join(dir, 'good.js'));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--declarations must be the folder');
  }, 60_000);

  it('refuses a --timeout that is not a positive number of seconds', async () => {
    const run = await codegen('--app', join(dir, 'good.js'), '--out', join(dir, 'never.ts'), '--timeout', 'soon');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--timeout must be a number of seconds');
  }, 60_000);
});
