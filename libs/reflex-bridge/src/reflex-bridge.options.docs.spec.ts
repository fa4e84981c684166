import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = dirname(fileURLToPath(import.meta.url));
const docs = join(root, '..', '..', '..', 'docs');

/**
 * The pages that document the module's options: configuration.md lists them all; the SPA's and the dev server's
 * own options are spelled out (dotted) on their page, which configuration.md's rows link to.
 */
const OPTION_PAGES = ['configuration.md', 'spa-and-profiles.md'];

/**
 * Every option path of `ReflexBridgeModuleOptions`, read by the TypeScript compiler from the source: its own keys
 * and, for a key whose type is an options interface of this package, that interface's keys (`uploads.maxFiles`).
 * Deeper levels (a window's `limit`) are the section's business: its row describes them.
 */
function optionPaths(): string[] {
  const file = join(root, 'reflex-bridge.options.ts');
  const program = ts.createProgram([file], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  let declaration: ts.InterfaceDeclaration | undefined;
  ts.forEachChild(program.getSourceFile(file)!, (node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === 'ReflexBridgeModuleOptions') declaration = node;
  });
  const ours = (node: ts.Node | undefined) => node !== undefined && !node.getSourceFile().fileName.includes('node_modules');
  const paths: string[] = [];
  const walk = (type: ts.Type, prefix: string) => {
    for (const property of checker.getPropertiesOfType(type)) {
      const node = property.valueDeclaration ?? property.declarations?.[0];
      if (!ours(node)) continue;
      const path = prefix ? `${prefix}.${property.name}` : property.name;
      paths.push(path);
      if (prefix) continue;
      const value = checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(property, node!));
      for (const part of value.isUnion() ? value.types : [value]) {
        const of = part.getSymbol()?.declarations?.[0];
        const isOptionsObject = (part.flags & ts.TypeFlags.Object) !== 0 && checker.getSignaturesOfType(part, ts.SignatureKind.Call).length === 0;
        if (isOptionsObject && ours(of) && (ts.isInterfaceDeclaration(of!) || ts.isTypeLiteralNode(of!))) walk(part, path);
      }
    }
  };
  walk(checker.getTypeAtLocation(declaration!), '');
  return [...new Set(paths)];
}

describe('the options documentation', () => {
  it('names every option of ReflexBridgeModuleOptions (and of its sections) on the options pages', () => {
    const text = OPTION_PAGES.map((page) => readFileSync(join(docs, page), 'utf8')).join('\n');
    const paths = optionPaths();
    // The walk found the sections: a broken walk must not pass by finding nothing.
    expect(paths).toEqual(expect.arrayContaining(['production', 'uploads.maxConcurrentPerAddress', 'rateLimit.cookieHandoffs', 'devServer.allowedHosts']));
    expect(paths.filter((path) => !text.includes(`\`${path}\``))).toEqual([]);
  }, 60_000);
});
