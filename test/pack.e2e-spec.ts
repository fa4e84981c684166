/**
 * The packages as a user gets them: build both libraries, `npm pack` them, install the tarballs into a scratch Nest
 * app outside the monorepo (so nothing resolves through the workspace), compile that app's TypeScript the way a Nest
 * CLI project does, start it and drive it over the wire with a raw socket.io-client.
 *
 * The app also runs the contract suites from `@reflex-bridge/nest/testing` under its own Jest, against the packed
 * InMemoryStateStore and InProcessTransport, the way a third-party store or transport would run them.
 *
 * Set PACK_KEEP_SCRATCH=1 to keep the scratch dir for a look after a failure (its path is printed).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io, type Socket } from 'socket.io-client';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
const libs = [
  { name: '@reflex-bridge/nest', dir: join(repoRoot, 'libs', 'reflex-bridge') },
  { name: '@reflex-bridge/client', dir: join(repoRoot, 'libs', 'reflex-client') },
  { name: '@reflex-bridge/react', dir: join(repoRoot, 'libs', 'reflex-react') },
] as const;

const COUNTER_STATE = 'reflex___state____state.counter_state';

/**
 * The environment for child npm/node processes: without the `npm_*` variables an enclosing `npm test` sets
 * (npm_config_local_prefix would point the scratch install back at the monorepo).
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === 'INIT_CWD') continue;
    env[key] = value;
  }
  return env;
}

/** Runs a command to completion; rejects with its whole output when it exits non-zero. */
function run(command: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      command,
      args,
      { cwd, env: cleanEnv(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`\`${command} ${args.join(' ')}\` in ${cwd} failed: ${error.message}\n${stdout}\n${stderr}`));
        } else {
          resolvePromise(stdout);
        }
      },
    );
  });
}

/** The part of \`jest --json\` output the contract run checks. */
interface JestReport {
  success: boolean;
  numPassedTests: number;
  numFailedTests: number;
  testResults: { assertionResults: { ancestorTitles: string[]; status: string }[] }[];
}

interface PackResult {
  filename: string;
  files: { path: string }[];
}

/** A user's Nest app: exactly the README's first example. */
const APP_SOURCE = `import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ReflexBridgeModule, State, EventHandler, Payload } from '@reflex-bridge/nest';

@State()
class CounterState {
  count = 0;

  @EventHandler()
  increment(@Payload('by') by: number) {
    this.count += by;
  }
}

@Module({ imports: [ReflexBridgeModule.forRoot()], providers: [CounterState] })
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
app.enableShutdownHooks();
await app.listen(0, '127.0.0.1');
const address = app.getHttpServer().address();
console.log('LISTENING ' + (typeof address === 'object' && address !== null ? address.port : String(address)));
`;

/** The client package only has to resolve, with its types, from a plain ESM project. */
const CLIENT_CHECK_SOURCE = `import * as client from '@reflex-bridge/client';
console.log(JSON.stringify(Object.keys(client)));
`;

/**
 * A third-party implementation's spec, reduced to the built-in in-memory store and in-process transport: the
 * `testing` entry must resolve from the tarball, with its types, and its suites must run and pass under the app's
 * own Jest (which provides `@jest/globals`, the entry's optional peer dependency).
 */
const CONTRACTS_SOURCE = `import 'reflect-metadata';
import { InMemoryStateStore, InProcessTransport } from '@reflex-bridge/nest';
import { describeLiveTransportContract, describeStateStoreContract } from '@reflex-bridge/nest/testing';

describeStateStoreContract('packed InMemoryStateStore', ({ ttlSeconds }) => new InMemoryStateStore({ ttlSeconds }));
describeLiveTransportContract('packed InProcessTransport', (channel) => new InProcessTransport({ channel }));
`;

/** The app's root module for codegen, in its own file: what `reflex-bridge codegen --app` boots (nothing listens). */
const CODEGEN_APP_SOURCE = `import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { ReflexBridgeModule, State, EventHandler, Payload } from '@reflex-bridge/nest';

@State()
export class CounterState {
  count = 0;

  @EventHandler()
  add(@Payload('by') by: number) {
    this.count += by;
  }
}

@Module({ imports: [ReflexBridgeModule.forRoot()], providers: [CounterState] })
export default class CodegenAppModule {}
`;

/** A React frontend typed by the generated module (web/, its own tsconfig: it is checked after codegen ran). */
const FRONTEND_SOURCE = `import { createElement } from 'react';
import { ReflexProvider, useReflexEvent, useReflexVar } from '@reflex-bridge/react';
import { CounterState } from './states.js';

export function Counter() {
  const count = useReflexVar(CounterState, 'count');
  const add = useReflexEvent(CounterState.add);
  return createElement('button', { onClick: () => add({ by: 1 }) }, String(count ?? 0));
}

export const app = createElement(ReflexProvider, { options: { url: '/' } }, createElement(Counter));
`;

/** The same frontend with a wrong payload: the type check must fail. */
const BAD_FRONTEND_SOURCE = `import { useReflexEvent } from '@reflex-bridge/react';
import { CounterState } from './states.js';

export function useBad() {
  useReflexEvent(CounterState.add)({ by: 'one' });
}
`;

const WEB_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    lib: ['ES2023', 'DOM'],
    types: [],
  },
  include: ['*.ts'],
};

/** The app's Jest: native ESM on the compiled output, nothing transformed. */
const JEST_CONFIG = { testMatch: ['<rootDir>/dist/**/*.test.js'], transform: {}, testEnvironment: 'node' };

/** What \`nest new\` generates, reduced to what matters here (TypeScript's own defaults otherwise, e.g. define semantics for fields). */
const TSCONFIG = {
  compilerOptions: {
    target: 'ES2023',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    esModuleInterop: true,
    strict: true,
    skipLibCheck: true,
    types: [],
    rootDir: 'src',
    outDir: 'dist',
  },
  include: ['src/**/*.ts'],
};

function waitForListening(child: ChildProcess, timeoutMs: number, output: () => string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`the packed app did not start within ${timeoutMs} ms:\n${output()}`));
    }, timeoutMs);
    const onData = (): void => {
      const match = /LISTENING (\d+)/.exec(output());
      if (match) {
        cleanup();
        resolvePromise(Number(match[1]));
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      cleanup();
      reject(new Error(`the packed app exited (code ${code}, signal ${signal}) before listening:\n${output()}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

type Delta = Record<string, Record<string, unknown>>;
interface Update {
  delta?: Delta;
  events?: unknown[];
}

/** Every `event` message a socket receives, with a way to wait for one that matches. */
class Inbox {
  private readonly updates: Update[] = [];
  private readonly waiters: { match: (u: Update) => boolean; resolve: (u: Update) => void }[] = [];

  constructor(socket: Socket) {
    socket.on('event', (data: unknown) => {
      const update = (typeof data === 'string' ? JSON.parse(data) : data) as Update;
      this.updates.push(update);
      for (const waiter of [...this.waiters]) {
        if (waiter.match(update)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(update);
        }
      }
    });
  }

  /** Resolves with the first update (already received or still to come) that matches. */
  waitFor(match: (u: Update) => boolean, what: string, timeoutMs = 15_000): Promise<Update> {
    const seen = this.updates.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no update with ${what} within ${timeoutMs} ms; got: ${JSON.stringify(this.updates)}`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (u) => {
          clearTimeout(timer);
          resolvePromise(u);
        },
      });
    });
  }
}

/** The package name a bare import specifier resolves to: `@scope/name` or `name`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * Imports in an installed package's JavaScript that its own package.json does not declare (dependencies or
 * peerDependencies) and that are not Node built-ins: each would fail, or pick up whatever happens to be installed,
 * in a user's app.
 */
async function undeclaredImports(packageDir: string): Promise<string[]> {
  const manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as {
    name: string;
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
    optionalDependencies?: Record<string, string>;
  };
  const declared = new Set([
    manifest.name,
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
    ...Object.keys(manifest.optionalDependencies ?? {}),
  ]);
  const builtins = new Set(builtinModules);
  const problems: string[] = [];
  const entries = await readdir(packageDir, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    const file = join(entry.parentPath, entry.name);
    if (!entry.isFile() || !/\.(m|c)?js$/.test(entry.name) || relative(packageDir, file).includes('node_modules')) continue;
    // Comments go first: JSDoc examples are full of import lines.
    const source = (await readFile(file, 'utf8')).replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    const specifiers = source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/g);
    for (const [, specifier] of specifiers) {
      if (!specifier || specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) continue;
      if (builtins.has(specifier) || declared.has(packageOf(specifier))) continue;
      problems.push(`${relative(packageDir, file)}: ${specifier}`);
    }
  }
  return problems;
}

const counterIs = (value: number) => (update: Update) => update.delta?.[COUNTER_STATE]?.['count_rx_state_'] === value;

describe('the packed packages in a fresh Nest app', () => {
  let scratch = '';
  let app: ChildProcess | undefined;
  let appOutput = '';
  let port = 0;
  const packs: Record<string, PackResult> = {};
  const sockets: Socket[] = [];

  beforeAll(async () => {
    // 1. Build the libraries (the same incremental build `npm pack`'s prepack runs again below).
    await run(process.execPath, [tsc, '-b', ...libs.map((lib) => join(lib.dir, 'tsconfig.build.json'))], repoRoot, 300_000);

    // 2. Pack them, outside the repo.
    scratch = await mkdtemp(join(tmpdir(), 'reflex-pack-'));
    if (!relative(repoRoot, scratch).startsWith('..')) throw new Error(`scratch dir ${scratch} is inside the repo`);
    const tarballs = join(scratch, 'tarballs');
    const appDir = join(scratch, 'app');
    await mkdir(tarballs);
    await mkdir(join(appDir, 'src'), { recursive: true });
    for (const lib of libs) {
      const out = await run('npm', ['pack', '--json', '--pack-destination', tarballs], lib.dir, 300_000);
      // prepack's own output (tsc) may precede the JSON.
      const [result] = JSON.parse(out.slice(out.indexOf('['))) as PackResult[];
      if (!result) throw new Error(`npm pack printed no result for ${lib.name}:\n${out}`);
      packs[lib.name] = result;
    }

    // 3. A user's project: its own package.json, the tarballs as dependencies, nothing from the monorepo. The
    //    packages a Nest app already has are taken at the ranges the library's peerDependencies ask for.
    const { peerDependencies: peers = {} } = JSON.parse(
      await readFile(join(libs[0].dir, 'package.json'), 'utf8'),
    ) as { peerDependencies?: Record<string, string> };
    // The app's test runner: the monorepo's own Jest version, as a user of the `testing` entry would install it.
    const { devDependencies: devDeps = {} } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
      devDependencies?: Record<string, string>;
    };
    const pkg = {
      name: 'reflex-bridge-pack-check',
      private: true,
      version: '0.0.0',
      type: 'module',
      dependencies: {
        '@reflex-bridge/nest': `file:${join(tarballs, packs['@reflex-bridge/nest']!.filename)}`,
        '@reflex-bridge/client': `file:${join(tarballs, packs['@reflex-bridge/client']!.filename)}`,
        '@reflex-bridge/react': `file:${join(tarballs, packs['@reflex-bridge/react']!.filename)}`,
        react: devDeps['react'] ?? '^19',
        '@types/react': devDeps['@types/react'] ?? '^19',
        '@nestjs/common': peers['@nestjs/common'] ?? '^12',
        '@nestjs/core': peers['@nestjs/core'] ?? '^12',
        '@nestjs/platform-express': '^12',
        'reflect-metadata': peers['reflect-metadata'] ?? '^0.2',
        rxjs: peers['rxjs'] ?? '^7',
        'class-validator': peers['class-validator'] ?? '^0.15',
        'class-transformer': peers['class-transformer'] ?? '^0.5',
        'socket.io-client': '^4',
      },
      devDependencies: {
        jest: devDeps['jest'] ?? '^30',
        '@jest/globals': devDeps['@jest/globals'] ?? '^30',
      },
      jest: JEST_CONFIG,
    };
    await writeFile(join(appDir, 'package.json'), JSON.stringify(pkg, null, 2));
    await writeFile(join(appDir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    await writeFile(join(appDir, 'src', 'main.ts'), APP_SOURCE);
    await writeFile(join(appDir, 'src', 'client-check.ts'), CLIENT_CHECK_SOURCE);
    await writeFile(join(appDir, 'src', 'contracts.test.ts'), CONTRACTS_SOURCE);
    await writeFile(join(appDir, 'src', 'codegen-app.ts'), CODEGEN_APP_SOURCE);
    await mkdir(join(appDir, 'web'));
    await writeFile(join(appDir, 'web', 'tsconfig.json'), JSON.stringify(WEB_TSCONFIG, null, 2));
    await writeFile(join(appDir, 'web', 'package.json'), JSON.stringify({ type: 'module' }));
    await writeFile(join(appDir, 'web', 'counter.ts'), FRONTEND_SOURCE);
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], appDir, 600_000);

    // 4. Compile it against the packed type declarations, then start it.
    await run(process.execPath, [tsc, '-p', join(appDir, 'tsconfig.json')], appDir);
    app = spawn(process.execPath, ['dist/main.js'], { cwd: appDir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    app.stdout?.on('data', (chunk: Buffer) => (appOutput += chunk.toString()));
    app.stderr?.on('data', (chunk: Buffer) => (appOutput += chunk.toString()));
    port = await waitForListening(app, 30_000, () => appOutput);
  }, 300_000);

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    if (app && app.exitCode === null && app.signalCode === null) {
      const exited = new Promise((r) => app!.once('exit', r));
      app.kill('SIGTERM');
      const timer = setTimeout(() => app!.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (scratch && process.env.PACK_KEEP_SCRATCH !== '1') await rm(scratch, { recursive: true, force: true });
    else if (scratch) console.warn(`pack scratch dir kept: ${scratch}`);
  }, 30_000);

  it('ships the built code and declarations, and no sources, specs or build caches', () => {
    for (const lib of libs) {
      const files = packs[lib.name]!.files.map((f) => f.path);
      expect(files).toEqual(expect.arrayContaining(['package.json', 'dist/index.js', 'dist/index.d.ts']));
      expect(files.filter((f) => f.startsWith('src/') || /\.spec\.|\.e2e-spec\.|\.tsbuildinfo$/.test(f))).toEqual([]);
    }
    // The contract suites are public (the `testing` entry), so they ship.
    expect(packs['@reflex-bridge/nest']!.files.map((f) => f.path)).toEqual(
      expect.arrayContaining([
        'dist/testing.js',
        'dist/testing.d.ts',
        'dist/state/store/state-store.contract.js',
        'dist/live/live-transport.contract.js',
      ]),
    );
  });

  it('imports, in the shipped JavaScript, only what each package.json declares', async () => {
    for (const lib of libs) {
      const installed = join(scratch, 'app', 'node_modules', ...lib.name.split('/'));
      expect(await undeclaredImports(installed)).toEqual([]);
    }
  });

  it('generates the typed states with the `reflex-bridge` bin, and a React frontend type-checks against them', async () => {
    const appDir = join(scratch, 'app');
    const out = await run(
      process.execPath,
      ['node_modules/.bin/reflex-bridge', 'codegen', '--app', 'dist/codegen-app.js', '--out', 'web/states.ts'],
      appDir,
    );
    expect(out).toContain('wrote');
    expect(await readFile(join(appDir, 'web', 'states.ts'), 'utf8')).toContain('readonly add: HandlerRef<{ by: number }>;');
    await run(process.execPath, [tsc, '-p', join(appDir, 'web', 'tsconfig.json')], appDir);
    await writeFile(join(appDir, 'web', 'bad.ts'), BAD_FRONTEND_SOURCE);
    try {
      await expect(run(process.execPath, [tsc, '-p', join(appDir, 'web', 'tsconfig.json')], appDir)).rejects.toThrow(/bad\.ts.*TS2322/s);
    } finally {
      await rm(join(appDir, 'web', 'bad.ts'));
    }
  }, 120_000);

  it('resolves @reflex-bridge/client from the installed tarball', async () => {
    const out = await run(process.execPath, ['dist/client-check.js'], join(scratch, 'app'));
    expect((JSON.parse(out) as string[]).length).toBeGreaterThan(0);
  });

  it('runs the contract suites of @reflex-bridge/nest/testing under the app\'s own Jest', async () => {
    const appDir = join(scratch, 'app');
    // The report goes to a file: the library's Nest logger writes to stdout, which would garble a report there.
    await run(
      process.execPath,
      [
        '--experimental-vm-modules',
        '--disable-warning=ExperimentalWarning',
        'node_modules/jest/bin/jest.js',
        '--ci',
        '--json',
        '--outputFile=jest-report.json',
      ],
      appDir,
      240_000,
    );
    const report = JSON.parse(await readFile(join(appDir, 'jest-report.json'), 'utf8')) as JestReport;
    const suites = new Set(
      report.testResults.flatMap((file) => file.assertionResults.map((result) => result.ancestorTitles[0])),
    );
    expect(suites).toEqual(
      new Set(['StateStore contract: packed InMemoryStateStore', 'packed InProcessTransport (LiveTransport contract)']),
    );
    expect(report).toMatchObject({ success: true, numFailedTests: 0 });
    expect(report.numPassedTests).toBeGreaterThanOrEqual(10);
  }, 300_000);

  it('hydrates and runs an event handler over /_event', async () => {
    const socket = io(`http://127.0.0.1:${port}/_event`, {
      path: '/_event',
      transports: ['websocket'],
      query: { token: randomUUID() },
      reconnection: false,
    });
    sockets.push(socket);
    const inbox = new Inbox(socket);
    await new Promise<void>((resolvePromise, reject) => {
      socket.once('connect', () => resolvePromise());
      socket.once('connect_error', (error) => reject(new Error(`connect_error: ${error.message}\n${appOutput}`)));
    });

    socket.emit('event', { name: 'reflex___state____state.hydrate', payload: {}, router_data: { pathname: '/' } });
    await inbox.waitFor(counterIs(0), `${COUNTER_STATE}.count_rx_state_ === 0 after hydrate`);

    socket.emit('event', {
      name: `${COUNTER_STATE}.increment`,
      payload: { by: 2 },
      router_data: { pathname: '/' },
    });
    await inbox.waitFor(counterIs(2), `${COUNTER_STATE}.count_rx_state_ === 2 after increment {by: 2}`);
  }, 60_000);
});
