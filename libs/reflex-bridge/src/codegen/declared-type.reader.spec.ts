import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDeclaredTypes } from './declared-type.reader.js';

/** What an app's build may declare for a state: types wider, deeper or odder than a var's JSON. */
const DECLARATIONS = `type UserId = string & { readonly __brand: 'UserId' };
type Cents = number & { __unit: 'cents' };
export interface Folder {
  name: string;
  a: Folder; b: Folder; c: Folder; d: Folder; e: Folder; f: Folder; g: Folder; h: Folder;
}
export declare class OddState {
  owner: UserId;
  price: Cents | null;
  tree: Folder | null;
  element: HTMLElement | null;
  tags: Set<string> | null;
  count: number;
  byId: Map<string, number>;
  nested: { ids: ReadonlySet<number>; seen: WeakMap<object, boolean> };
  link: URL | null;
  money: Money;
}
export declare class Money {
  cents: number;
  toJSON(): string;
}
`;

describe('readDeclaredTypes on types wider, deeper or odder than JSON', () => {
  let dir = '';
  let members: Map<string, string> = new Map();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reflex-declared-'));
    await writeFile(join(dir, 'odd.state.d.ts'), DECLARATIONS);
    members = (await readDeclaredTypes([join(dir, 'odd.state.d.ts')], ['OddState'])).get('OddState') ?? new Map();
  }, 60_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('types a branded primitive as the primitive JSON carries', () => {
    expect(members.get('owner')).toBe('string');
    expect(members.get('price')).toBe('number | null');
  });

  it('leaves out symbol-keyed properties, which JSON drops', () => {
    expect(members.get('tags')).not.toContain('__@');
  });

  // JSON.stringify(new Set(['a'])) is '{}': the entries are not own properties, and `size` is a getter.
  it('types a Set or Map as the empty object JSON makes of it, at any depth', () => {
    expect(members.get('tags')).toBe('Record<string, never> | null');
    expect(members.get('byId')).toBe('Record<string, never>');
    expect(members.get('nested')).toBe('{ ids: Record<string, never>; seen: Record<string, never> }');
  });

  it('types an object with toJSON() as what toJSON returns', () => {
    expect(members.get('link')).toBe('string | null');
    expect(members.get('money')).toBe('string');
  });

  it('bounds the text of a wide recursive type, and still types the other members', () => {
    // Spelt out six levels deep, eight fields a level, the type alone was 3.8 MB of text (and a DOM element's,
    // hundreds of fields a level, never finished).
    for (const member of ['tree', 'element']) expect(members.get(member)!.length).toBeLessThan(100_000);
    expect(members.get('count')).toBe('number');
  });
});
