// Module resolution hook for `--lib=<dir>` (registered by library-override.ts in the server processes only):
// `@reflex-bridge/nest` resolves to `<dir>/index.js` instead of libs/reflex-bridge/dist, so a changed build of
// the library can be measured against the same baseline without touching the workspace's own build.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

type NextResolve = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(specifier: string, context: unknown, nextResolve: NextResolve): Promise<{ url: string; shortCircuit?: boolean }> {
  const dir = process.env.BENCH_REFLEX_LIB;
  if (dir && specifier === '@reflex-bridge/nest') return { url: pathToFileURL(join(dir, 'index.js')).href, shortCircuit: true };
  return nextResolve(specifier, context);
}
