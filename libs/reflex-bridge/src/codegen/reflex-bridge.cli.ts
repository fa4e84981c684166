#!/usr/bin/env node
import 'reflect-metadata';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadAppModule } from './app-module.loader.js';
import { writeGeneratedModule } from './generated-module.writer.js';
import { generateStateTypesFor } from './state-types.codegen.js';

const USAGE = `Usage: reflex-bridge codegen --app <built module file> --out <file.ts> [--export <name>] [--types-package <package>] [--declarations <dir>] [--timeout <seconds>]

  --app          the app's built JavaScript file exporting its root Nest module (a class, a dynamic module, or a
                 function returning one); it is booted without listening to read its @State() classes
  --out          the TypeScript module to write (wire names, var types, handler payload types)
  --export       which export of --app to use (default: the default export, else the only module export)
  --types-package  the package the generated module imports its types from (default: @reflex-bridge/react)
  --declarations the folder of the app's built .d.ts files, where the vars' declared types are read (default: the
                 folder of --app; needs the package typescript, else types come from the initial values)
  --timeout      seconds the app may take to load, boot and close before the command gives up (default: 60); a
                 computed var's getter that runs for half of it is stopped, and the command fails naming it
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
  let values: { app?: string; out?: string; export?: string; 'types-package'?: string; declarations?: string; timeout?: string };
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
  const text = await withDeadline(timeout, async () => {
    phase = `importing ${app}`;
    const module = await loadAppModule(app, exportName);
    phase = 'booting the app module, reading its states and closing it';
    const declarationsDir = resolve(declarations ?? dirname(app));
    return generateStateTypesFor(module, { importFrom: values['types-package'], source: app, declarationsDir, getterTimeoutMs: getterTimeoutMs(timeout) });
  });
  phase = 'writing --out';
  const out = await writeGeneratedModule(values.out, text, [app]);
  process.stdout.write(`reflex-bridge codegen: wrote ${out}\n`);
  return 0;
}

/**
 * Runs `work`, failing after `seconds`: an app whose provider waits on a server that never answers would otherwise
 * keep the command (and the build that runs it) waiting for ever. The timer does not keep the process alive itself.
 */
async function withDeadline<T>(seconds: number, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`still ${phase} after ${seconds} s (--timeout); is the app waiting on a server that does not answer?`)), seconds * 1000);
    timer.unref();
  });
  try {
    return await Promise.race([work(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

// The event loop empties while main still waits: the app awaits a promise nothing is left to settle (a top-level
// `await` on nothing, a hook returning a promise that never resolves). Node would exit 0 having written nothing.
process.once('beforeExit', () => {
  process.stderr.write(`reflex-bridge codegen failed: the app never finished ${phase}: it awaits a promise that nothing is left to settle.\n`);
  process.exit(1);
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`reflex-bridge codegen failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
