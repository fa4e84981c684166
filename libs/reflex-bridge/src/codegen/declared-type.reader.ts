import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type * as TS from 'typescript';
import { propertyName } from './wire-type.printer.js';
import { loadTypeScript } from './typescript-compiler.loader.js';

/** How deep nested object types are spelt out before the printer says `unknown` (as for values). */
const MAX_DEPTH = 6;

/**
 * How many object fields one member's type may spell out. A recursive type is unrolled {@link MAX_DEPTH} levels, so
 * its text grows as (fields a level)^6: eight fields make 3.8 MB, a DOM element's hundreds never finish. Past this
 * the member says `unknown` and the generator falls back to its initial value's type.
 */
const MAX_FIELDS = 2_000;

/** Built-in collections whose entries JSON.stringify does not see: each is sent as `{}`. */
const COLLECTIONS = new Set(['Set', 'Map', 'ReadonlySet', 'ReadonlyMap', 'WeakSet', 'WeakMap']);

/** Thrown when a member's type spells out more than {@link MAX_FIELDS} fields. */
class TooWide extends Error {}

/** Per state class name: each public member's declared type, as the client receives it (JSON). */
export type DeclaredStateTypes = Map<string, Map<string, string>>;

/** The `.d.ts` files under `dir` (recursively), leaving out `node_modules`. */
export async function declarationFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.name.endsWith('.d.ts')) found.push(path);
    }
  };
  await walk(dir);
  return found.sort();
}

/**
 * Reads the declared types of the state classes' members from the app's declaration files (the `.d.ts` its build
 * writes beside the JavaScript), so a var initialised to `[]` but declared `CartLine[]` is typed `{ productId:
 * number; … }[]` rather than `unknown[]`. Types are spelt out structurally (the generated module cannot import the
 * server's types) as JSON carries them: a `Date` is a `string`, methods are dropped, `undefined` in a list is `null`.
 * A class name declared more than once in the files is skipped (the caller falls back to the initial values).
 * The files may be sources (`.ts`) too; `paths` maps module names as a tsconfig's `paths` does (packages of a
 * monorepo that are not built). `typescript` is loaded only here: without its compiler API (not installed, or
 * TypeScript 7) the result is empty, and `onUnavailable` is told why.
 */
export async function readDeclaredTypes(
  files: string[],
  classNames: Iterable<string>,
  paths?: Record<string, string[]>,
  onUnavailable?: (reason: string) => void,
): Promise<DeclaredStateTypes> {
  const result: DeclaredStateTypes = new Map();
  const loaded = await loadTypeScript();
  if ('unavailable' in loaded) {
    onUnavailable?.(loaded.unavailable);
    return result;
  }
  const { ts } = loaded;
  const wanted = new Set(classNames);
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    experimentalDecorators: true,
    ...(paths ? { paths } : {}),
  });
  const checker = program.getTypeChecker();
  const declarations = new Map<string, TS.ClassDeclaration[]>();
  const fileSet = new Set(files.map((file) => file.replace(/\\/g, '/')));
  for (const source of program.getSourceFiles()) {
    if (!fileSet.has(source.fileName)) continue;
    ts.forEachChild(source, (node) => {
      if (ts.isClassDeclaration(node) && node.name && wanted.has(node.name.text)) {
        declarations.set(node.name.text, [...(declarations.get(node.name.text) ?? []), node]);
      }
    });
  }
  const printer = new WireTypePrinter(ts, checker);
  for (const [name, [declaration, ...others]] of declarations) {
    if (!declaration || others.length > 0) continue;
    const members = new Map<string, string>();
    const instance = checker.getTypeAtLocation(declaration);
    for (const symbol of checker.getPropertiesOfType(instance)) {
      const member = symbol.valueDeclaration ?? symbol.declarations?.[0];
      if (!member) continue;
      const modifiers = ts.getCombinedModifierFlags(member);
      if (modifiers & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected | ts.ModifierFlags.Static)) continue;
      if (ts.isMethodDeclaration(member) || ts.isMethodSignature(member)) continue;
      const type = checker.getTypeOfSymbolAtLocation(symbol, declaration);
      // A declaration without a type (a private field's `private x;`) says nothing: leave it to the value.
      if (type.flags & ts.TypeFlags.Any) continue;
      members.set(symbol.name, printer.print(type, 0, (symbol.flags & ts.SymbolFlags.Optional) !== 0));
    }
    result.set(name, members);
  }
  return result;
}

/** Spells a checker type out as the JSON the client receives (see {@link readDeclaredTypes}). */
class WireTypePrinter {
  constructor(
    private readonly ts: typeof TS,
    private readonly checker: TS.TypeChecker,
  ) {}

  /** Fields this member's type may still spell out. */
  private fieldsLeft = MAX_FIELDS;

  print(type: TS.Type, depth: number, optional = false): string {
    this.fieldsLeft = MAX_FIELDS;
    let text: string;
    try {
      text = this.type(type, depth);
    } catch (error) {
      if (error instanceof TooWide) return 'unknown';
      throw error;
    }
    return optional && !/(^|\| )undefined( \||$)/.test(text) ? `${text} | undefined` : text;
  }

  private type(type: TS.Type, depth: number): string {
    const { ts, checker } = this;
    const flags = type.flags;
    if (flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return 'unknown';
    if (flags & ts.TypeFlags.Never) return 'never';
    if (flags & ts.TypeFlags.Null) return 'null';
    if (flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Void)) return 'undefined';
    if (flags & ts.TypeFlags.StringLiteral) return JSON.stringify((type as TS.StringLiteralType).value);
    if (flags & ts.TypeFlags.NumberLiteral) return String((type as TS.NumberLiteralType).value);
    if (flags & ts.TypeFlags.BooleanLiteral) return checker.typeToString(type);
    if (flags & (ts.TypeFlags.String | ts.TypeFlags.TemplateLiteral)) return 'string';
    if (flags & (ts.TypeFlags.Number | ts.TypeFlags.BigInt | ts.TypeFlags.BigIntLiteral)) return 'number';
    if (flags & ts.TypeFlags.Boolean) return 'boolean';
    if (flags & ts.TypeFlags.EnumLiteral && type.isUnion()) return this.union(type.types, depth);
    if (type.isUnion()) return this.union(type.types, depth);
    if (type.isIntersection()) {
      // A branded primitive (`string & { __brand: 'UserId' }`) is the primitive on the wire: the brand is a type only.
      const primitive = type.types.find((member) => !(member.flags & (ts.TypeFlags.Object | ts.TypeFlags.Intersection)));
      if (primitive) return this.type(primitive, depth);
    } else if (!(flags & ts.TypeFlags.Object)) return 'unknown';
    if (depth >= MAX_DEPTH) return 'unknown';
    if (checker.isArrayType(type) || checker.isTupleType(type)) {
      const args = checker.getTypeArguments(type as TS.TypeReference);
      if (checker.isTupleType(type)) return `[${args.map((arg) => this.inList(arg, depth + 1)).join(', ')}]`;
      const item = this.inList(args[0]!, depth + 1);
      // As the value printer writes lists: `T[]`, or `Array<…>` around a union.
      return item.includes('|') ? `Array<${item}>` : `${item}[]`;
    }
    const symbol = type.getSymbol();
    if (symbol?.name === 'Date') return 'string';
    // JSON.stringify writes a Set or Map as `{}` (their entries are not own properties): `{ size: number }` promised
    // the client a field that never arrives.
    if (symbol && COLLECTIONS.has(symbol.name)) return 'Record<string, never>';
    // JSON.stringify sends what `toJSON()` returns (a URL is its href string), not the object's fields.
    const toJSON = checker.getPropertyOfType(type, 'toJSON');
    const signature = toJSON && checker.getTypeOfSymbol(toJSON).getCallSignatures()[0];
    if (signature) return this.type(checker.getReturnTypeOfSignature(signature), depth + 1);
    if (type.getCallSignatures().length > 0 && checker.getPropertiesOfType(type).length === 0) return 'unknown';
    const fields: string[] = [];
    for (const property of checker.getPropertiesOfType(type)) {
      if (--this.fieldsLeft < 0) throw new TooWide();
      const declaration = property.valueDeclaration ?? property.declarations?.[0];
      if (declaration && (ts.isMethodDeclaration(declaration) || ts.isMethodSignature(declaration))) continue;
      // A symbol-keyed property (`[Symbol.toStringTag]`, named `__@toStringTag@12` here): JSON drops it.
      if (property.escapedName.toString().startsWith('__@')) continue;
      const propertyType = declaration ? checker.getTypeOfSymbolAtLocation(property, declaration) : checker.getDeclaredTypeOfSymbol(property);
      if (propertyType.getCallSignatures().length > 0 && checker.getPropertiesOfType(propertyType).length === 0) continue;
      const optional = (property.flags & ts.SymbolFlags.Optional) !== 0;
      // An optional property's `| undefined` (strict mode adds it) is what the `?` says already.
      const text = optional ? this.withoutUndefined(propertyType, depth + 1) : this.type(propertyType, depth + 1);
      fields.push(`${propertyName(property.name)}${optional ? '?' : ''}: ${text}`);
    }
    const index = checker.getIndexInfosOfType(type).find((info) => info.keyType.flags & ts.TypeFlags.String);
    if (index) fields.push(`[key: string]: ${this.type(index.type, depth + 1)}`);
    return fields.length ? `{ ${fields.join('; ')} }` : 'Record<string, unknown>';
  }

  /** JSON writes `undefined` in a list as `null`. */
  private inList(type: TS.Type, depth: number): string {
    return this.type(type, depth).replace(/(^|\| )undefined( \||$)/g, '$1null$2');
  }

  private withoutUndefined(type: TS.Type, depth: number): string {
    if (!type.isUnion()) return this.type(type, depth);
    const defined = type.types.filter((member) => !(member.flags & this.ts.TypeFlags.Undefined));
    return defined.length === 0 ? 'undefined' : this.union(defined, depth);
  }

  private union(types: readonly TS.Type[], depth: number): string {
    let members = [...new Set(types.map((member) => this.type(member, depth)))];
    // `T | null` as people write it: the checker lists null and undefined first.
    members = [...members.filter((member) => member !== 'null' && member !== 'undefined'), ...members.filter((member) => member === 'null' || member === 'undefined')];
    // `true | false` is how the checker keeps `boolean` inside a union.
    if (members.includes('true') && members.includes('false')) {
      members = members.map((member) => (member === 'true' ? 'boolean' : member)).filter((member) => member !== 'false');
    }
    return members.join(' | ');
  }
}
