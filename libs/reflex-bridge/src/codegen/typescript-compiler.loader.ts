import type * as TS from 'typescript';

/** The TypeScript compiler API, or why it cannot be used (the codegen then types vars by their initial values). */
export type LoadedTypeScript = { ts: typeof TS } | { unavailable: string };

/**
 * Loads the `typescript` package's compiler API (TypeScript 5.5 to 6), which reads the vars' declared types.
 * TypeScript 7 is the native compiler: its `typescript` package exports only its version, with no compiler API to
 * call, so a project on it gets the reason instead of a `TypeError`.
 *
 * @param importTypeScript how the package is imported (for tests).
 */
export async function loadTypeScript(importTypeScript: () => Promise<unknown> = () => import('typescript')): Promise<LoadedTypeScript> {
  let loaded: unknown;
  try {
    loaded = await importTypeScript();
  } catch {
    return { unavailable: 'the package typescript is not installed' };
  }
  // An ES module import of the CommonJS package: its exports are the default export.
  const ts = ((loaded as { default?: unknown }).default ?? loaded) as Partial<typeof TS> | undefined;
  if (typeof ts?.createProgram === 'function') return { ts: ts as typeof TS };
  const version = typeof ts?.version === 'string' ? ` ${ts.version}` : '';
  return {
    unavailable: `the package typescript${version} has no compiler API (TypeScript 7's package exports only its version); declared types are read with typescript 5.5 to 6`,
  };
}
