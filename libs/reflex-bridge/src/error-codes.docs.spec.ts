import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = dirname(fileURLToPath(import.meta.url));
const repo = join(root, '..', '..', '..');
const read = (path: string) => readFileSync(join(repo, path), 'utf8');

/**
 * The string literals of a union type alias, read by the TypeScript compiler from the source, members that are
 * other aliases included (the server's `UploadErrorCode` takes in `BridgeErrorCode`).
 */
function codesOf(file: string, alias: string): string[] {
  const path = join(repo, file);
  // The client package from its source, as the repository's tsconfig maps it: a clean checkout has no built client
  // (CI runs the unit tests before any build), and the server's codes take in the client's `BridgeErrorCode`.
  const paths = { '@reflex-bridge/client': [join(repo, 'libs/reflex-client/src/index.ts')] };
  const program = ts.createProgram([path], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, skipLibCheck: true, noEmit: true, paths });
  const checker = program.getTypeChecker();
  let declaration: ts.TypeAliasDeclaration | undefined;
  ts.forEachChild(program.getSourceFile(path)!, (node) => {
    if (ts.isTypeAliasDeclaration(node) && node.name.text === alias) declaration = node;
  });
  const type = checker.getTypeAtLocation(declaration!.name);
  const members = type.isUnion() ? type.types : [type];
  return members.filter((member) => member.isStringLiteral()).map((member) => (member as ts.StringLiteralType).value).sort();
}

/** The lower-case `code` spans of a text (option names are camelCase, so they are not taken). */
function codeSpans(text: string): string[] {
  return [...new Set([...text.matchAll(/`([a-z]+(?:_[a-z]+)*)`/g)].map((match) => match[1]))].sort();
}

function between(text: string, start: string, end: string): string {
  const from = text.indexOf(start);
  const to = text.indexOf(end, from + start.length);
  expect(from).toBeGreaterThanOrEqual(0);
  expect(to).toBeGreaterThan(from);
  return text.slice(from + start.length, to);
}

describe('the error codes the docs list', () => {
  const bridgeCodes = codesOf('libs/reflex-client/src/bridge-error.types.ts', 'BridgeErrorCode');
  const serverUploadCodes = codesOf('libs/reflex-bridge/src/upload/upload.error.ts', 'UploadErrorCode');
  const clientUploadCodes = codesOf('libs/reflex-client/src/upload-request.error.ts', 'UploadErrorCode');

  it('are read from the types (a broken reader must not pass by finding nothing)', () => {
    expect(bridgeCodes).toEqual(expect.arrayContaining(['invalid_event', 'busy', 'upload_storage_full']));
    expect(serverUploadCodes).toEqual(expect.arrayContaining(['upload_headers_missing', 'forbidden']));
    expect(clientUploadCodes).toEqual(expect.arrayContaining(['aborted', 'upload_headers_missing']));
  });

  it('in the README are exactly the bridge_error codes', () => {
    const list = between(read('README.md'), '`code` is one of', '`status` is set');
    expect(codeSpans(list)).toEqual(bridgeCodes);
  });

  it('in docs/state.md are exactly the bridge_error codes', () => {
    const table = between(read('docs/state.md'), '| `code` | When |', '\n\n');
    expect(codeSpans(table.split('\n').map((row) => row.split('|')[1] ?? '').join(' '))).toEqual(bridgeCodes);
  });

  it('the server answers an upload with are all typed on the client', () => {
    // `upload_not_found` answers GET <prefix>/_upload/<path> (a stored file), never an upload request.
    const sentToUploads = serverUploadCodes.filter((code) => code !== 'upload_not_found');
    expect(sentToUploads.filter((code) => !clientUploadCodes.includes(code))).toEqual([]);
  });

  it('of an upload request are all in the errors table of docs/uploads.md', () => {
    const table = between(read('docs/uploads.md'), '| `status` | `code` | When |', '\n\n');
    // Rows by status (not the "any other" row, which says where the code comes from).
    const rows = table.split('\n').filter((row) => /^\| \d/.test(row));
    const documented = codeSpans(rows.map((row) => row.split('|')[2]).join(' '));
    // The event channel's codes an upload can get too are the README's and state.md's (checked above).
    const uploadOwn = clientUploadCodes.filter((code) => !bridgeCodes.includes(code));
    expect(uploadOwn.filter((code) => !documented.includes(code))).toEqual([]);
    expect(documented.filter((code) => !clientUploadCodes.includes(code))).toEqual([]);
  });
});
