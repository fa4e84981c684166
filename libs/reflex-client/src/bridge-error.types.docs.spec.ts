import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');

/** Where the shape of a `bridge_error` is written out for readers: the React docs, the hooks' and client's JSDoc. */
const WRITTEN_IN = ['docs/react.md', 'libs/reflex-react/src/use-reflex-errors.ts', 'libs/reflex-client/src/reflex.client.ts'];

/** The property names of `BridgeErrorPayload`, read by the TypeScript compiler from its source. */
function payloadFields(): string[] {
  const file = join(here, 'bridge-error.types.ts');
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022);
  let fields: string[] = [];
  ts.forEachChild(source, (node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === 'BridgeErrorPayload') {
      fields = node.members.filter(ts.isPropertySignature).map((member) => (member.name as ts.Identifier).text);
    }
  });
  return fields.sort();
}

/** Each `{code, message, event?, …}` written in `text`, as its field names (a `?` dropped). */
function writtenShapes(text: string): string[][] {
  return [...text.matchAll(/\{ ?code, message, event\??(?:, [a-zA-Z]+\??)* ?\}/g)].map((match) =>
    match[0].replace(/[{}?\s]/g, '').split(',').sort(),
  );
}

describe('the bridge_error shape the docs write out', () => {
  const fields = payloadFields();

  it('is read from the type (a broken reader must not pass by finding nothing)', () => {
    expect(fields).toEqual(expect.arrayContaining(['code', 'message', 'status', 'retryAfterMs']));
  });

  it.each(WRITTEN_IN)('names every field of BridgeErrorPayload, and no other, in %s', (path) => {
    const shapes = writtenShapes(readFileSync(join(repo, path), 'utf8'));
    expect(shapes.length).toBeGreaterThan(0);
    for (const shape of shapes) expect(shape).toEqual(fields);
  });
});
