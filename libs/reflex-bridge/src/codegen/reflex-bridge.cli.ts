#!/usr/bin/env node
import 'reflect-metadata';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadAppModule } from './app-module.loader.js';
import { generateStateTypesFor } from './state-types.codegen.js';

const USAGE = `Usage: reflex-bridge codegen --app <built module file> --out <file.ts> [--export <name>] [--types-package <package>] [--declarations <dir>]

  --app          the app's built JavaScript file exporting its root Nest module (a class, a dynamic module, or a
                 function returning one); it is booted without listening to read its @State() classes
  --out          the TypeScript module to write (wire names, var types, handler payload types)
  --export       which export of --app to use (default: the default export, else the only module export)
  --types-package  the package the generated module imports its types from (default: @reflex-bridge/react)
  --declarations the folder of the app's built .d.ts files, where the vars' declared types are read (default: the
                 folder of --app; needs the package typescript, else types come from the initial values)
`;

/** `reflex-bridge codegen …`: exits 0 after writing the file, 1 with a message on any problem, 2 on bad usage. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'codegen') {
    process.stderr.write(command === undefined || command === '--help' ? USAGE : `Unknown command "${command}".\n\n${USAGE}`);
    return command === '--help' ? 0 : 2;
  }
  let values: { app?: string; out?: string; export?: string; 'types-package'?: string; declarations?: string };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { app: { type: 'string' }, out: { type: 'string' }, export: { type: 'string' }, 'types-package': { type: 'string' }, declarations: { type: 'string' } },
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
  const module = await loadAppModule(values.app, values.export);
  const declarationsDir = resolve(values.declarations ?? dirname(values.app));
  const text = await generateStateTypesFor(module, { importFrom: values['types-package'], source: values.app, declarationsDir });
  const out = resolve(values.out);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, text);
  process.stdout.write(`reflex-bridge codegen: wrote ${out}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`reflex-bridge codegen failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
