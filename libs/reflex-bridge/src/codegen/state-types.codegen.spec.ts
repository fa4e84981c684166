import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Module } from '@nestjs/common';
import { IsInt, IsOptional, IsString } from 'class-validator';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { ReflexBridgeModule } from '../reflex-bridge.module.js';
import { State } from '../state/state.decorator.js';
import { EventHandler } from '../state/event-handler.decorator.js';
import { EventRequest, Payload } from '../state/event-param.decorator.js';
import { generateStateTypesFor } from './state-types.codegen.js';

class ReviewDto {
  @IsInt() stars!: number;
  @IsString() @IsOptional() text?: string;
}

interface Loan {
  bookId: number;
  due: Date;
  note?: string;
}

@State()
class ShelfState {
  items = [{ id: 1, title: 'Dune', tags: ['sf'] }];
  loans: Loan[] = [];
  mood: 'calm' | 'busy' | null = null;
  query = '';
  open = false;
  _secret = 'never on the wire';

  get count(): number {
    return this.items.length;
  }

  get overdue(): Loan[] {
    return this.loans.filter((loan) => loan.due.getTime() < Date.now());
  }

  @EventHandler() add(@Payload('id') id: number, @Payload('title') title: string): void {
    this.items.push({ id, title, tags: [] });
  }

  @EventHandler() review(@Payload() review: ReviewDto, @EventRequest() _request: unknown): void {
    this.query = String(review.stars);
  }

  @EventHandler() clear(): void {
    this.items = [];
  }
}

@State({ parent: () => ShelfState })
class ShelfFilterState {
  category = 'all';
  @EventHandler() setCategory(@Payload('value') value: string): void {
    this.category = value;
  }
}

@Module({ imports: [ReflexBridgeModule.forRoot()], providers: [ShelfState, ShelfFilterState] })
class ShelfModule {}

/**
 * What the build's declaration file of ShelfState says (tsc writes it beside the JavaScript): the declared types
 * the initial values cannot tell (`loans: Loan[] = []`, a getter over them, a union with null).
 */
const SHELF_DECLARATIONS = `interface Loan {
  bookId: number;
  due: Date;
  note?: string;
  renew(): void;
}
export declare class ShelfState {
  items: { id: number; title: string; tags: string[] }[];
  loans: Loan[];
  mood: 'calm' | 'busy' | null;
  query: string;
  open: boolean;
  _secret: string;
  private readonly helper;
  get count(): number;
  get overdue(): Loan[];
  add(id: number, title: string): void;
}
`;

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** A frontend file that uses the generated module as a developer would. */
const GOOD = `import { useReflexEvent, useReflexState, useReflexVar } from '@reflex-bridge/react';
import { ShelfState, ShelfFilterState } from './states.js';

export function Shelf(): string {
  const add = useReflexEvent(ShelfState.add);
  add({ id: 2, title: 'Emma' });
  useReflexEvent(ShelfState.review)({ stars: 5 });
  useReflexEvent(ShelfState.review)({ stars: 4, text: 'good' });
  useReflexEvent(ShelfState.clear)();
  useReflexEvent(ShelfFilterState.setCategory)({ value: 'sf' });
  const shelf = useReflexState(ShelfState);
  const count: number | undefined = useReflexVar(ShelfState, 'count');
  const firstTitle: string | undefined = shelf?.items[0]?.title;
  const open: boolean | undefined = shelf?.open;
  const due: string | undefined = shelf?.loans[0]?.due;
  return \`\${count} \${firstTitle} \${open} \${due} \${ShelfFilterState.$state}\`;
}
`;

/** The same file with the mistakes the type check must catch, one per line that says so. */
const BAD = `import { useReflexEvent, useReflexState, useReflexVar } from '@reflex-bridge/react';
import { ShelfState } from './states.js';

export function Shelf(): void {
  useReflexEvent(ShelfState.add)({ id: 'x', title: 'Emma' }); // BAD: wrong payload type
  useReflexEvent(ShelfState.add)({ id: 2 }); // BAD: missing payload key
  useReflexEvent(ShelfState.review)({ stars: 5, txt: 'typo' }); // BAD: misspelt DTO key
  useReflexVar(ShelfState, 'cuont'); // BAD: misspelt var
  useReflexState(ShelfState)?._secret; // BAD: backend-only var
  useReflexEvent(ShelfState.remove); // BAD: no such handler
  useReflexState(ShelfState)?.loans[0]?.renew(); // BAD: methods are not on the wire
  const mood: 'calm' | null | undefined = useReflexState(ShelfState)?.mood; // BAD: 'busy' is possible too
}
`;

function typeCheck(dir: string, file: string): ts.Diagnostic[] {
  const program = ts.createProgram([join(dir, file)], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    types: [],
    baseUrl: repoRoot,
    paths: {
      '@reflex-bridge/react': [join(repoRoot, 'libs/reflex-react/src/index.ts')],
      '@reflex-bridge/client': [join(repoRoot, 'libs/reflex-client/src/index.ts')],
    },
    typeRoots: [join(repoRoot, 'node_modules/@types')],
  });
  return ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName.startsWith(dir));
}

describe('reflex-bridge codegen', () => {
  let dir = '';
  let generated = '';
  let fromValues = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reflex-codegen-'));
    await mkdir(join(dir, 'dist'));
    await writeFile(join(dir, 'dist', 'shelf.state.d.ts'), SHELF_DECLARATIONS);
    generated = await generateStateTypesFor(ShelfModule, { source: 'shelf.module.js', declarationsDir: join(dir, 'dist') });
    fromValues = await generateStateTypesFor(ShelfModule, { source: 'shelf.module.js' });
    await writeFile(join(dir, 'package.json'), '{"type":"module"}');
    await writeFile(join(dir, 'states.ts'), generated);
    await writeFile(join(dir, 'good.ts'), GOOD);
    await writeFile(join(dir, 'bad.ts'), BAD);
  }, 60_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes the wire names, var types and payload types of every state', () => {
    expect(generated).toContain(`$state: "reflex___state____state.shelf_state",`);
    expect(generated).toContain(`$state: "reflex___state____state.shelf_state.shelf_filter_state",`);
    expect(generated).toContain('items: { id: number; title: string; tags: string[] }[];');
    expect(generated).toContain('readonly count: number;');
    expect(generated).toContain('readonly add: HandlerRef<{ id: number; title: string }>;');
    expect(generated).toContain('readonly review: HandlerRef<{ stars: number; text?: string }>;');
    expect(generated).toContain('readonly clear: HandlerRef<EmptyPayload>;');
    expect(generated).not.toContain('_secret');
  });

  it("types vars from the app's declaration files where the initial values say too little", () => {
    expect(generated).toContain('loans: { bookId: number; due: string; note?: string }[];');
    expect(generated).toContain('readonly overdue: { bookId: number; due: string; note?: string }[];');
    expect(generated).toContain(`mood: "calm" | "busy" | null;`);
    // Without declarations: the values' types, which cannot see into an empty list.
    expect(fromValues).toContain('loans: unknown[];');
    expect(fromValues).toContain('mood: null;');
  });

  it('type-checks a frontend that uses the states correctly', () => {
    const errors = typeCheck(dir, 'good.ts').map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(errors).toEqual([]);
  }, 60_000);

  it('fails the type check on each wrong payload, misspelt var and unknown handler, and nowhere else', () => {
    const lines = BAD.split('\n');
    const failing = new Set(
      typeCheck(dir, 'bad.ts').map((d) => d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line),
    );
    const expected = new Set(lines.flatMap((line, index) => (line.includes('// BAD') ? [index] : [])));
    expect([...failing].sort()).toEqual([...expected].sort());
  }, 60_000);
});
