import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Module, type Type } from '@nestjs/common';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { ReflexBridgeModule } from '../reflex-bridge.module.js';
import { State, type StateOptions } from '../state/state.decorator.js';
import { EventHandler } from '../state/event-handler.decorator.js';
import { generateStateTypesFor } from './state-types.codegen.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** A state class named `name` (any string a class's `name` can hold), with one var and one handler. */
function stateNamed(name: string, options: StateOptions = {}): Type {
  const cls = {
    [name]: class {
      value = 1;
      ping(_payload: object): void {
        this.value++;
      }
    },
  }[name]!;
  EventHandler()(cls.prototype, 'ping', Object.getOwnPropertyDescriptor(cls.prototype, 'ping')!);
  State(options)(cls);
  return cls as Type;
}

/** The generated module's own compile errors under the frontend's settings (strict, ES2022, DOM). */
async function compileErrors(source: string): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'reflex-codegen-odd-'));
  try {
    await writeFile(join(dir, 'package.json'), '{"type":"module"}');
    await writeFile(join(dir, 'states.ts'), source);
    const program = ts.createProgram([join(dir, 'states.ts')], {
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
    return ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file?.fileName.startsWith(dir))
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function generate(...providers: Type[]): Promise<string> {
  @Module({ imports: [ReflexBridgeModule.forRoot()], providers })
  class OddModule {}
  return generateStateTypesFor(OddModule, { source: 'odd.module.js' });
}

describe('generateStateTypes on odd but legal state classes', () => {
  it('compiles when state classes are named like the names the module imports or declares itself', async () => {
    const source = await generate(stateNamed('States'), stateNamed('StateRef'), stateNamed('HandlerRef'), stateNamed('EmptyPayload'));
    expect(await compileErrors(source)).toEqual([]);
  }, 60_000);

  it('compiles when state classes share a name, or share one with the name made for another', async () => {
    const a = stateNamed('A', { name: 'p' });
    const b = stateNamed('B', { name: 'p_a' });
    const first = stateNamed('ItemState', { name: 'a_bc', parent: () => a });
    const second = stateNamed('ItemState', { name: 'bc', parent: () => b });
    const third = stateNamed('PABc', { name: 'third' });
    const source = await generate(a, b, first, second, third);
    expect(await compileErrors(source)).toEqual([]);
  }, 60_000);

  it('compiles when a class name is a reserved word, or a state name makes no identifier', async () => {
    const source = await generate(stateNamed('default', { name: 'one' }), stateNamed('new', { name: 'two' }), stateNamed('größe', { name: '_1st' }));
    expect(await compileErrors(source)).toEqual([]);
    expect(source).toContain('export const One: ');
    expect(source).toContain('export const _1st: ');
  }, 60_000);

  it('compiles when a class name or the source path holds a comment end or a line break', async () => {
    @Module({ imports: [ReflexBridgeModule.forRoot()], providers: [stateNamed('a*/b', { name: 'three' })] })
    class OddModule {}
    const source = await generateStateTypesFor(OddModule, { source: 'dist/*/x\nexport const y = 1;\n.js' });
    expect(await compileErrors(source)).toEqual([]);
    expect(source).not.toMatch(/^export const y/m);
  }, 60_000);
});

describe('generateStateTypes with declared types for a class name two states share', () => {
  it("types neither state from the one declaration found: it may be the other state's", async () => {
    const shop = stateNamed('ItemState', { name: 'shop_item' });
    const blog = stateNamed('ItemState', { name: 'blog_item' });
    @Module({ imports: [ReflexBridgeModule.forRoot()], providers: [shop, blog] })
    class TwoItemsModule {}
    // Only the blog's build is in the folder read: its ItemState declares `value` a string.
    const dir = await mkdtemp(join(tmpdir(), 'reflex-codegen-same-name-'));
    try {
      await writeFile(join(dir, 'item.state.d.ts'), 'export declare class ItemState {\n  value: "draft" | "live";\n}\n');
      const source = await generateStateTypesFor(TwoItemsModule, { declarationsDir: dir });
      expect(source).not.toContain('"draft" | "live"');
      expect(source.match(/ {2}value: number;/g)).toHaveLength(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('generateStateTypes with a computed var whose getter never returns', () => {
  it('fails naming the getter instead of hanging (a loop never yields, so no caller timer could fire)', async () => {
    class LoopState {
      value = 1;
      get total(): number {
        for (;;) {
          /* never returns */
        }
      }
    }
    State()(LoopState);
    @Module({ imports: [ReflexBridgeModule.forRoot()], providers: [LoopState] })
    class LoopModule {}
    await expect(generateStateTypesFor(LoopModule, { getterTimeoutMs: 200 })).rejects.toThrow('LoopState.total: the getter did not return within 200 ms');
  }, 60_000);
});

describe('generateStateTypes on a computed var that returns a Set', () => {
  it('types it as the empty object JSON sends for it, not as an object of unknown fields', async () => {
    class TagState {
      names = ['a'];
      get tags(): Set<string> {
        return new Set(this.names);
      }
    }
    State()(TagState);
    expect(await generate(TagState)).toContain('  readonly tags: Record<string, never>;');
  }, 60_000);
});
