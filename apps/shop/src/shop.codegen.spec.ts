import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { generateStateTypesFor } from '../../../libs/reflex-bridge/src/codegen/state-types.codegen.js';
import shopForCodegen from './shop.codegen.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../..');
const GENERATED = join(repoRoot, 'apps/shop/web/src/generated/reflex-states.ts');
const LIBS = {
  '@reflex-bridge/nest': [join(repoRoot, 'libs/reflex-bridge/src/index.ts')],
  '@reflex-bridge/client': [join(repoRoot, 'libs/reflex-client/src/index.ts')],
  '@reflex-bridge/react': [join(repoRoot, 'libs/reflex-react/src/index.ts')],
};

/** The shop's own sources (not its specs): where the states' declared types are read from. */
async function shopSources(dir = here): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await shopSources(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) files.push(path);
  }
  return files;
}

/** A web app file using the shop's generated states as the app does. */
const GOOD = `import { useReflexEvent, useReflexState, useReflexUpload, useReflexVar } from '@reflex-bridge/react';
import { CartState, FilterState, StaffState } from './reflex-states.js';

export function Shop(): string {
  useReflexEvent(CartState.add)({ productId: 3 });
  useReflexEvent(CartState.clear)();
  useReflexEvent(FilterState.setQuery)({ value: 'lamp' });
  void useReflexUpload(StaffState.attachImage).upload([], { productId: 3 });
  const cart = useReflexState(CartState);
  const name: string | undefined = cart?.lines[0]?.name;
  const quantity: number | undefined = cart?.lines[0]?.quantity;
  const image: string | undefined = useReflexVar(FilterState, 'visible')?.[0]?.image;
  return \`\${name} \${quantity} \${image} \${cart?.total}\`;
}
`;

/** Mistakes the shop's type check must catch, one per marked line. */
const BAD = `import { useReflexEvent, useReflexState, useReflexVar } from '@reflex-bridge/react';
import { CartState, FilterState } from './reflex-states.js';

export function Shop(): void {
  useReflexEvent(CartState.add)({ productId: '3' }); // BAD: wrong payload type
  useReflexEvent(CartState.add)({ id: 3 }); // BAD: misspelt payload key
  useReflexEvent(FilterState.setQuery)(); // BAD: missing payload
  useReflexVar(CartState, 'totl'); // BAD: misspelt var
  const line = useReflexState(CartState)?.lines[0];
  line?.qty; // BAD: misspelt field of a cart line
  const price: string | undefined = useReflexVar(FilterState, 'products')?.[0]?.price; // BAD: a price is a number
  useReflexEvent(CartState.empty); // BAD: no such handler
}
`;

function typeCheck(dir: string, file: string): ts.Diagnostic[] {
  const program = ts.createProgram([join(dir, file)], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    types: ['node'],
    paths: LIBS,
    typeRoots: [join(repoRoot, 'node_modules/@types')],
  });
  return ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName.startsWith(dir));
}

describe("the shop's generated state types (apps/shop/web/src/generated/reflex-states.ts)", () => {
  let dir = '';
  let committed = '';

  beforeAll(async () => {
    committed = await readFile(GENERATED, 'utf8');
    dir = await mkdtemp(join(tmpdir(), 'shop-types-'));
    await writeFile(join(dir, 'reflex-states.ts'), committed);
    await writeFile(join(dir, 'good.ts'), GOOD);
    await writeFile(join(dir, 'bad.ts'), BAD);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is what `reflex-bridge codegen` writes from the shop today (run `npm run build` after changing a state)', async () => {
    const fresh = await generateStateTypesFor(shopForCodegen(), { source: 'apps/shop/dist/shop.codegen.js', typeFiles: await shopSources(), typePaths: LIBS });
    expect(fresh).toBe(committed);
  }, 120_000);

  it('types the vars from their declarations: a cart line and a product are spelt out, not unknown[]', () => {
    expect(committed).toContain('lines: { productId: number; name: string; price: number; quantity: number; addedPrice: number }[];');
    expect(committed).toContain('readonly visible: { id: number; name: string; category: string; price: number; image: string }[];');
    expect(committed).not.toContain('unknown[]');
  });

  it('type-checks a correct use of the shop states', () => {
    const errors = typeCheck(dir, 'good.ts').map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(errors).toEqual([]);
  }, 120_000);

  it('fails the type check on each wrong payload, misspelt var or field and unknown handler, and nowhere else', () => {
    const failing = new Set(typeCheck(dir, 'bad.ts').map((d) => d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line));
    const expected = new Set(BAD.split('\n').flatMap((line, index) => (line.includes('// BAD') ? [index] : [])));
    expect([...failing].sort()).toEqual([...expected].sort());
  }, 120_000);
});
