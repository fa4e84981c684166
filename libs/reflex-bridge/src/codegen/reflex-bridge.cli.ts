#!/usr/bin/env node
import 'reflect-metadata';
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { loadAppModule } from './app-module.loader.js';
import { declarationFiles } from './declared-type.reader.js';
import { writeGeneratedModule } from './generated-module.writer.js';
import { generateStateTypesFor } from './state-types.codegen.js';

const USAGE = `Usage: reflex-bridge codegen --app <built module file> --out <file.ts> [--export <name>] [--types-package <package>] [--declarations <dir>] [--timeout <seconds>] [--main-thread]

  --app          the app's built JavaScript file exporting its root Nest module (a class, a dynamic module, or a
                 function returning one); it is booted without listening to read its @State() classes
  --out          the TypeScript module to write (wire names, var types, handler payload types)
  --export       which export of --app to use (default: the default export, else the only module export)
  --types-package  the package the generated module imports its types from (default: @reflex-bridge/react)
  --declarations the folder of the app's built .d.ts files, where the vars' declared types are read (default: the
                 folder of --app; needs the package typescript 5.5 to 6, else types come from the initial values)
  --timeout      seconds the app may take to load, boot and close before the command gives up (default: 60); a
                 computed var's getter that runs for half of it is stopped, and the command fails naming it
  --main-thread  boot the app in the command's main thread rather than a worker thread, for an app that calls what
                 Node refuses in workers (process.chdir(), setting process.umask()); --timeout then stops an app that
                 waits, not one whose code never yields
`;

/** How long the app may take to load, boot and close (`--timeout`), by default. */
const DEFAULT_TIMEOUT_SECONDS = 60;

/**
 * How long one computed var's getter may run: half of `--timeout`, so that a getter that loops for ever is stopped
 * (and named) while the command's own deadline, which also counts the boot, has not yet passed.
 */
function getterTimeoutMs(timeoutSeconds: number): number {
  return Math.max(1, Math.floor((timeoutSeconds * 1000) / 2));
}

/** What the command is doing, named in the message when the app never lets it finish. */
let phase = 'starting';

/** `reflex-bridge codegen …`: exits 0 after writing the file, 1 with a message on any problem, 2 on bad usage. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'codegen') {
    process.stderr.write(command === undefined || command === '--help' ? USAGE : `Unknown command "${command}".\n\n${USAGE}`);
    return command === '--help' ? 0 : 2;
  }
  let values: { app?: string; out?: string; export?: string; 'types-package'?: string; declarations?: string; timeout?: string; 'main-thread'?: boolean };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        app: { type: 'string' },
        out: { type: 'string' },
        export: { type: 'string' },
        'types-package': { type: 'string' },
        declarations: { type: 'string' },
        timeout: { type: 'string' },
        'main-thread': { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!values.app || !values.out) {
    process.stderr.write(`--app and --out are required.\n\n${USAGE}`);
    return 2;
  }
  const timeout = values.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : Number(values.timeout);
  if (!(timeout > 0 && timeout <= 86_400)) {
    process.stderr.write(`--timeout must be a number of seconds above 0 (at most 86400), not "${values.timeout}".\n\n${USAGE}`);
    return 2;
  }
  const { app, declarations, export: exportName } = values;
  // Checked before the app boots: a file there (the app's own, by a slip) failed only after the boot, with "ENOTDIR".
  if (declarations !== undefined && !(await stat(declarations).then((found) => found.isDirectory(), () => false))) {
    process.stderr.write(`--declarations must be the folder of the app's built .d.ts files, and "${declarations}" is not a folder.\n\n${USAGE}`);
    return 2;
  }
  const job: CodegenJob = {
    app,
    exportName,
    importFrom: values['types-package'],
    declarationsDir: resolve(declarations ?? dirname(app)),
    getterTimeoutMs: getterTimeoutMs(timeout),
  };
  const text = values['main-thread'] ? await inMainThread(timeout, job) : await inWorker(timeout, job);
  phase = 'writing --out';
  // The declaration files read are inputs too: an --out among them replaced the app's declarations with the module.
  const out = await writeGeneratedModule(values.out, text, [app, ...(await declarationFiles(job.declarationsDir).catch(() => []))]);
  process.stdout.write(`reflex-bridge codegen: wrote ${out}\n`);
  return 0;
}

/** What the worker is asked to do: load the app, boot it, read its states. */
interface CodegenJob {
  app: string;
  exportName: string | undefined;
  importFrom: string | undefined;
  declarationsDir: string;
  getterTimeoutMs: number;
}

/**
 * What the worker tells the command: the step it is on and any warning, then the module's text or what went wrong.
 */
type WorkerMessage = { phase: string } | { warning: string } | { text: string } | { error: string };

/** Writes a warning of the worker's to stderr: the command goes on. */
function warn(warning: string): void {
  process.stderr.write(`reflex-bridge codegen: ${warning}\n`);
}

/**
 * Runs the job in this thread (`--main-thread`), failing after `seconds`: for an app that needs the main thread. Its
 * timer cannot interrupt code that never yields, which only {@link inWorker} can stop.
 */
function inMainThread(seconds: number, job: CodegenJob): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`still ${phase} after ${seconds} s (--timeout); is the app waiting on a server that does not answer?`)), seconds * 1000);
    void runJob(job, (message) => {
      if ('phase' in message) phase = message.phase;
      else if ('warning' in message) warn(message.warning);
      else {
        clearTimeout(timer);
        if ('text' in message) resolvePromise(message.text);
        else reject(new Error(message.error));
      }
    });
  });
}

/**
 * What the command says when the app did what Node refuses in a worker thread (`process.chdir()`, setting
 * `process.umask()`, `process.setuid()`): Node's own message does not say that the command runs the app in one.
 */
function workerRefusal(error: unknown): string | undefined {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 8; cause = cause.cause, depth++) {
    if ((cause as { code?: unknown }).code === 'ERR_WORKER_UNSUPPORTED_OPERATION') {
      return `${cause.message}: reflex-bridge codegen boots the app in a worker thread (so that --timeout can stop it), where Node refuses that call. Run the command with --main-thread, or skip the call when the app is booted for codegen (import { isMainThread } from 'node:worker_threads').`;
    }
  }
  return undefined;
}

/**
 * Loads, boots and reads the app in a worker thread, failing after `seconds`. The app's own code runs there, so
 * whatever it does, the command can stop it: a provider waiting on a server that never answers, and also one that
 * never yields (a constructor or a module's top level looping for ever), which no timer of the thread running it
 * could interrupt. A worker whose event loop empties before it answered awaited a promise nothing could settle.
 */
function inWorker(seconds: number, job: CodegenJob): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { reflexBridgeCodegen: job } });
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // The app may leave handles open (a pool, an interval): the module's text is all the command needs.
      void worker.terminate().then(outcome, outcome);
    };
    let exited: string | undefined;
    worker.on('message', (message: WorkerMessage | { exited: string }) => {
      if ('exited' in message) return void (exited = message.exited);
      // Counted from the worker's first step, once it loaded the command's own modules (Nest among them): that
      // start-up is the command's cost, not the app's.
      timer ??= setTimeout(
        () => finish(() => reject(new Error(`still ${phase} after ${seconds} s (--timeout); is the app waiting on a server that does not answer?`))),
        seconds * 1000,
      );
      if ('phase' in message) phase = message.phase;
      else if ('warning' in message) warn(message.warning);
      else if ('text' in message) finish(() => resolvePromise(message.text));
      else finish(() => reject(new Error(message.error)));
    });
    worker.on('error', (error) => finish(() => reject(error)));
    worker.on('exit', () => finish(() => reject(new Error(exited ?? `the app never finished ${phase}: it awaits a promise that nothing is left to settle.`))));
  });
}

/** Runs the job, telling `report` each step, then the module's text or the error. */
async function runJob(job: CodegenJob, report: (message: WorkerMessage) => void): Promise<void> {
  try {
    report({ phase: `importing ${job.app}` });
    const module = await loadAppModule(job.app, job.exportName);
    report({ phase: 'booting the app module, reading its states and closing it' });
    const text = await generateStateTypesFor(module, {
      importFrom: job.importFrom,
      source: job.app,
      declarationsDir: job.declarationsDir,
      getterTimeoutMs: job.getterTimeoutMs,
      onTypesUnread: (reason) => report({ warning: `vars are typed by their initial values: ${reason}.` }),
    });
    report({ text });
  } catch (error) {
    report({ error: workerRefusal(error) ?? (error instanceof Error ? error.message : String(error)) });
  }
}

/**
 * The worker's side of {@link runJob}. An app that calls `process.exit()` ends only the worker, whose end looked like
 * an app awaiting a promise nothing settles: the command is told the call and its code first.
 */
function runJobInWorker(job: CodegenJob, port: NonNullable<typeof parentPort>): void {
  let step = 'starting';
  const exit = process.exit.bind(process);
  process.exit = ((code?: number | string | null) => {
    port.postMessage({ exited: `the app called process.exit(${code ?? ''}) while ${step}.` });
    return exit(code);
  }) as typeof process.exit;
  void runJob(job, (message) => {
    if ('phase' in message) step = message.phase;
    port.postMessage(message);
  });
}

const job = isMainThread ? undefined : (workerData as { reflexBridgeCodegen?: CodegenJob } | null)?.reflexBridgeCodegen;
if (job && parentPort) {
  runJobInWorker(job, parentPort);
} else {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`reflex-bridge codegen failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
