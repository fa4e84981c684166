import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));

/** The client's README: its Options table is where an app (and `ReflexProvider`'s `options`) looks an option up. */
const README = join(here, '..', 'README.md');

/** Options whose value is data the app passes through, not settings: `clientStorage` is the server's generated map. */
const DATA = new Set(['clientStorage']);

/**
 * Every option path of `ReflexClientOptions`, read by the TypeScript compiler from the source: its own keys and, for
 * a key whose value is an options object, the keys this package declares in it (`reconnect.maxAttempts`,
 * `socketOptions.maxPayload`; Socket.IO's own options are Socket.IO's docs' business). Methods (a `storage`'s
 * `getItem`) are what the app implements, not options, and are left out.
 */
function optionPaths(): string[] {
  const file = join(here, 'reflex-client.options.ts');
  const program = ts.createProgram([file], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  let declaration: ts.InterfaceDeclaration | undefined;
  ts.forEachChild(program.getSourceFile(file)!, (node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === 'ReflexClientOptions') declaration = node;
  });
  const ours = (node: ts.Node | undefined) => node !== undefined && !node.getSourceFile().fileName.includes('node_modules');
  const isOption = (node: ts.Node | undefined) => ours(node) && (ts.isPropertySignature(node!) || ts.isPropertyDeclaration(node!));
  const paths: string[] = [];
  for (const property of checker.getPropertiesOfType(checker.getTypeAtLocation(declaration!))) {
    const node = property.valueDeclaration ?? property.declarations?.[0];
    if (!isOption(node)) continue;
    paths.push(property.name);
    if (DATA.has(property.name)) continue;
    const value = checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(property, node!));
    for (const part of value.isUnion() ? value.types : [value]) {
      if ((part.flags & (ts.TypeFlags.Object | ts.TypeFlags.Intersection)) === 0 || checker.getSignaturesOfType(part, ts.SignatureKind.Call).length > 0) continue;
      for (const inner of checker.getPropertiesOfType(part)) {
        const innerNode = inner.valueDeclaration ?? inner.declarations?.[0];
        if (isOption(innerNode)) paths.push(`${property.name}.${inner.name}`);
      }
    }
  }
  return [...new Set(paths)];
}

describe('the client options documentation', () => {
  it('lists every option of ReflexClientOptions (and of its sections) in the README', () => {
    const text = readFileSync(README, 'utf8');
    const paths = optionPaths();
    // The walk found the sections: a broken walk must not pass by finding nothing.
    expect(paths).toEqual(expect.arrayContaining(['url', 'connectTimeoutMs', 'reconnect.maxAttempts', 'frameLimits.maxChars', 'socketOptions.maxPayload']));
    expect(paths).not.toContain('storage.getItem');
    expect(paths.filter((path) => !text.includes(`| \`${path}\` |`))).toEqual([]);
  }, 60_000);
});
