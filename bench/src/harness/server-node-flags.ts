// The Node flags every server process of a run gets, whichever benchmark forks it.

const LIBRARY_OVERRIDE = new URL('./library-override.js', import.meta.url);

/** Flags from `--server-node-args`, set once by the run before any server starts. */
let extraFlags: readonly string[] = [];

/**
 * Sets the Node flags (`--server-node-args`) given to every server process the harness forks from now on: ours,
 * the baselines and the Node peers alike, so that a ratio compares servers under the same flags. V8's heap flags,
 * say, which Node refuses in `NODE_OPTIONS`.
 */
export function setServerNodeArgs(flags: readonly string[]): void {
  extraFlags = [...flags];
}

/**
 * Splits `--server-node-args`' value into flags: words separated by spaces, each a Node flag (`--name` or
 * `--name=value`). Throws on anything else, so that a typo never starts servers with an argument Node reads as
 * its script.
 */
export function parseServerNodeArgs(value: string): string[] {
  const flags = value.split(/\s+/).filter(Boolean);
  if (!flags.length) throw new Error('--server-node-args: expected Node flags, e.g. --server-node-args="--initial-old-space-size=128"');
  const bad = flags.find((flag) => !/^--[a-z0-9][a-z0-9_-]*(=\S*)?$/i.test(flag));
  if (bad) throw new Error(`--server-node-args: "${bad}" is not a Node flag (--name or --name=value)`);
  return flags;
}

/**
 * The Node flags of a server process: `--import` of the library override when `--lib=<dir>` is given
 * (BENCH_REFLEX_LIB: the server imports that build of the library instead of the workspace's), then the run's
 * `--server-node-args`.
 */
export function serverNodeFlags(): string[] {
  const override = process.env.BENCH_REFLEX_LIB ? ['--import', LIBRARY_OVERRIDE.href] : [];
  return [...override, ...extraFlags];
}
