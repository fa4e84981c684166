import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The pages a user reads: the README, docs/, and each package's README (shipped with it). */
const pages = [
  'README.md',
  ...readdirSync(join(repo, 'docs')).filter((page) => page.endsWith('.md')).map((page) => `docs/${page}`),
  ...['reflex-bridge', 'reflex-client', 'reflex-react'].map((name) => `libs/${name}/README.md`),
];

/**
 * Where a name a snippet uses without importing it comes from, first match first: the snippets leave out the
 * imports of the module's packages and Nest's, as a reader's editor would add them.
 */
const PACKAGES = [
  '@reflex-bridge/nest',
  '@reflex-bridge/nest/testing',
  '@reflex-bridge/client',
  '@reflex-bridge/react',
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/websockets',
];

const OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
  strict: true,
  // A snippet's callbacks often take their parameters from code it does not show.
  noImplicitAny: false,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  useDefineForClassFields: false,
  esModuleInterop: true,
  skipLibCheck: true,
  noEmit: true,
  jsx: ts.JsxEmit.ReactJSX,
  types: ['node'],
  paths: {
    '@reflex-bridge/nest': [join(repo, 'libs/reflex-bridge/src/index.ts')],
    '@reflex-bridge/nest/testing': [join(repo, 'libs/reflex-bridge/src/testing.ts')],
    '@reflex-bridge/client': [join(repo, 'libs/reflex-client/src/index.ts')],
    '@reflex-bridge/react': [join(repo, 'libs/reflex-react/src/index.ts')],
  },
};

interface Example {
  page: string;
  /** The line of the opening fence. */
  fence: number;
  code: string;
  tsx: boolean;
}

/**
 * The packages' source files: their JSDoc examples are what a user's editor shows beside the API. A fence inside a
 * comment reads as one once each line's leading `*` is taken off.
 */
const sources = ['reflex-bridge', 'reflex-client', 'reflex-react'].flatMap((name) =>
  readdirSync(join(repo, 'libs', name, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !/\.spec(\.support)?\.ts$/.test(file))
    .map((file) => `libs/${name}/src/${file}`),
);

/** The page's TypeScript code blocks (```ts, ```tsx, ```typescript), or those of a source file's comments. */
function examplesOf(page: string): Example[] {
  const raw = readFileSync(join(repo, page), 'utf8');
  const text = page.endsWith('.md') ? raw : raw.replace(/^[ \t]*\*(?!\/) ?/gm, '');
  return [...text.matchAll(/^```(ts|tsx|typescript)\b[^\n]*\n([\s\S]*?)^```/gm)].map((match) => ({
    page,
    fence: text.slice(0, match.index).split('\n').length,
    code: match[2]!,
    tsx: match[1] === 'tsx',
  }));
}

/**
 * A snippet is a whole module, or a part of one: expressions (a module's entry in `imports`, a message on the
 * wire), members of an interface or of a state class, or entries of the module's options. Each part is checked
 * inside what it is a part of; the first form it parses in is the one it is. One that parses in none (an elision
 * written `...` where code goes: make it a comment) fails as a module.
 */
const OPTIONS_FORM = (code: string) => `const __options: ReflexBridgeModuleOptions = {\n${code}\n};`;
const FORMS: ((code: string) => string)[] = [
  (code) => code,
  (code) => `const __expressions = [\n${code}\n];`,
  (code) => `interface __Members {\n${code}\n}`,
  (code) => `class __Members {\n  [key: string]: any;\n${code}\n}`,
  OPTIONS_FORM,
];

function parses(text: string, tsx: boolean): boolean {
  const { diagnostics } = ts.transpileModule(text, { reportDiagnostics: true, compilerOptions: { jsx: ts.JsxEmit.ReactJSX }, fileName: tsx ? 'x.tsx' : 'x.ts' });
  return (diagnostics ?? []).length === 0;
}

/** The names each package exports, read by the compiler from its entry point. */
function exportsOf(host: ts.CompilerHost): Map<string, string> {
  const probe = join(repo, '.docs-examples/probe.ts');
  const probeText = PACKAGES.map((name, index) => `import * as p${index} from '${name}';`).join('\n') + '\nexport {};\n';
  const program = ts.createProgram([probe], OPTIONS, withFiles(host, new Map([[probe, probeText]])));
  const checker = program.getTypeChecker();
  const origin = new Map<string, string>();
  for (const declaration of program.getSourceFile(probe)!.statements.filter(ts.isImportDeclaration)) {
    const name = (declaration.moduleSpecifier as ts.StringLiteral).text;
    const module = checker.getSymbolAtLocation(declaration.moduleSpecifier);
    if (!module) throw new Error(`the compiler cannot resolve ${name}`);
    for (const exported of checker.getExportsOfModule(module)) if (!origin.has(exported.name)) origin.set(exported.name, name);
  }
  return origin;
}

/** A compiler host that also serves the given files from memory. */
function withFiles(host: ts.CompilerHost, files: Map<string, string>): ts.CompilerHost {
  return {
    ...host,
    fileExists: (file) => files.has(file) || host.fileExists(file),
    readFile: (file) => files.get(file) ?? host.readFile(file),
    getSourceFile: (file, language, onError) =>
      files.has(file) ? ts.createSourceFile(file, files.get(file)!, language, true) : host.getSourceFile(file, language, onError),
  };
}

const identifiers = (code: string) => new Set(code.replace(/'[^'\n]*'|"[^"\n]*"|`[^`]*`/g, '').match(/[A-Za-z_$][\w$]*/g) ?? []);

/** The shop's source files by name: the docs' examples import from the shop's files (`./cart.state.js`). */
function shopFilesByName(): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const dir of ['apps/shop/src', 'apps/shop/web/src']) {
    for (const file of readdirSync(join(repo, dir), { recursive: true, encoding: 'utf8' })) {
      if (!/\.tsx?$/.test(file) || /\.spec\.tsx?$/.test(file)) continue;
      const name = file.split('/').pop()!.replace(/\.tsx?$/, '.js');
      byName.set(name, [...(byName.get(name) ?? []), join(repo, dir, file).replace(/\.tsx?$/, '.js')]);
    }
  }
  return byName;
}

const IMPORT = /^import\s+(type\s+)?([^'";]*?)\s+from\s+['"]([^'"]+)['"];?[ \t]*(?:\/\/.*)?$/gm;

/**
 * The file an example is checked as. An import of a file of the reader's own app (`./cart.state.js`) reads the
 * shop's file of that name when there is one, as the examples follow the shop; one of a file the shop does not
 * have, or of a package this repository does not install, becomes declarations of `any`. The names the example
 * takes from the module's packages and Nest's without importing them are imported; `free` names (what the
 * example's surroundings define: `app`, `users`) are declared as `any`.
 */
function exampleFile(
  example: Example,
  path: string,
  context: { origin: Map<string, string>; shop: Map<string, string[]>; host: ts.CompilerHost },
  free: Set<string>,
): { text: string; linesBefore: number } {
  const stubbed: string[] = [];
  const code = example.code.replace(IMPORT, (line, _type, clause: string, specifier: string) => {
    const shopFiles = specifier.startsWith('./') ? context.shop.get(specifier.split('/').pop()!) : undefined;
    if (shopFiles?.length === 1) return line.replace(specifier, shopFiles[0]!);
    if (ts.resolveModuleName(specifier, path, OPTIONS, context.host).resolvedModule) return line;
    for (const name of clause.replace(/[{}]|\*\s+as|\btype\b/g, ' ').split(',')) {
      const local = name.trim().split(/\s+as\s+/).pop()!.trim();
      if (local) stubbed.push(local);
    }
    return '';
  });
  // Imports go first, outside the form (a class member's example may import its types); their lines stay blank.
  const imports: string[] = [];
  const body = code.replace(IMPORT, (line) => {
    imports.push(line);
    return '';
  });
  const form = FORMS.find((wrap) => parses(wrap(body), example.tsx)) ?? FORMS[0]!;
  const imported = new Set(imports.flatMap((line) => [...identifiers(line.replace(/from\s+['"].*$/, ''))]));
  const declared = new Set([...body.matchAll(/\b(?:class|function|const|let|var|interface|type|enum)\s+([A-Za-z_$][\w$]*)/g)].map(([, name]) => name!));
  const byPackage = new Map<string, string[]>();
  for (const name of identifiers(body)) {
    const from = context.origin.get(name);
    if (!from || imported.has(name) || declared.has(name) || stubbed.includes(name)) continue;
    byPackage.set(from, [...(byPackage.get(from) ?? []), name]);
  }
  if (form === OPTIONS_FORM && !imported.has('ReflexBridgeModuleOptions')) {
    byPackage.set('@reflex-bridge/nest', [...new Set([...(byPackage.get('@reflex-bridge/nest') ?? []), 'ReflexBridgeModuleOptions'])]);
  }
  const prelude = [
    ...imports,
    ...[...byPackage].map(([from, names]) => `import { ${names.join(', ')} } from '${from}';`),
    ...[...stubbed, ...free].map((name) => `declare const ${name}: any; type ${name} = any;`),
  ];
  // The example's own lines start where its form's opening line, if any, ends (imports it stubbed stay blank lines).
  const linesBefore = prelude.length + form('\u0000').split('\n').findIndex((line) => line.includes('\u0000'));
  return { text: [...prelude, form(body), 'export {};\n'].join('\n'), linesBefore };
}

/** What an example may do only because its surroundings are `any`: `config.get<string>()` on an unknown service. */
const CONTEXT_ONLY = [2347];

/** Edits (insertions, deletions, substitutions) between two names. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/**
 * Whether a name the example neither imports nor declares is one of the packages' names misspelt
 * (`EventUploadChunk`): that one is an error to report, not a name of the example's surroundings.
 */
function misspelt(name: string, origin: Map<string, string>): boolean {
  // Only capitalised names: the packages' classes, decorators and types. A surrounding's value (`token`, `app`)
  // may well be one edit from an export's name.
  return /^[A-Z]\w{5,}$/.test(name) && [...origin.keys()].some((exported) => exported !== name && distance(name, exported) <= 2);
}

/** Diagnostics that say a name the example's surroundings define is missing: the name. */
function missingName(diagnostic: ts.Diagnostic): string | undefined {
  if (![2304, 2552, 18004, 2503].includes(diagnostic.code)) return undefined;
  return /'([^']+)'/.exec(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'))?.[1];
}

describe('the docs', () => {
  it('show TypeScript examples that compile against the packages as they are', () => {
    const host = ts.createCompilerHost(OPTIONS, true);
    const context = { origin: exportsOf(host), shop: shopFilesByName(), host };
    const examples = [...pages, ...sources].flatMap(examplesOf);
    expect(examples.length).toBeGreaterThan(50);
    const pathOf = (example: Example, index: number) => join(repo, `.docs-examples/example-${index}.${example.tsx ? 'tsx' : 'ts'}`);
    const free = examples.map(() => new Set<string>());
    const compile = (program?: ts.Program) => {
      const files = examples.map((example, index) => ({ path: pathOf(example, index), ...exampleFile(example, pathOf(example, index), context, free[index]!) }));
      const texts = new Map(files.map(({ path, text }) => [path, text]));
      return { files, program: ts.createProgram([...texts.keys()], OPTIONS, withFiles(host, texts), program) };
    };
    // Twice: the first pass finds the names each example's surroundings define (declared as `any` in the second).
    const first = compile();
    examples.forEach((example, index) => {
      for (const diagnostic of ts.getPreEmitDiagnostics(first.program, first.program.getSourceFile(pathOf(example, index)))) {
        const name = missingName(diagnostic);
        if (name && !misspelt(name, context.origin)) free[index]!.add(name);
      }
    });
    const { files, program } = compile(first.program);
    const errors = examples.flatMap((example, index) =>
      ts
        .getPreEmitDiagnostics(program, program.getSourceFile(files[index]!.path))
        .filter((diagnostic) => !CONTEXT_ONLY.includes(diagnostic.code))
        .map((diagnostic) => {
          const line = diagnostic.file && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line : -1;
          const pageLine = example.fence + line - files[index]!.linesBefore + 1;
          const where = pageLine > example.fence ? `${example.page}:${pageLine}` : `${example.page}:${example.fence} (the imports the check adds)`;
          return `${where}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}\n${diagnostic.file?.text.split('\n')[line] ?? ''}`;
        }),
    );
    expect(errors).toEqual([]);
  }, 180_000);
});
