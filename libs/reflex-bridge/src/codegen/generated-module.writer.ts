import { randomBytes } from 'node:crypto';
import { mkdir, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** The real path of `file`, or its resolved path when it does not exist (yet). */
async function realPathOf(file: string): Promise<string> {
  try {
    return await realpath(file);
  } catch {
    return resolve(file);
  }
}

/**
 * Writes the generated module to `out` whole or not at all, and never over one of the command's `inputs`.
 *
 * The text goes to a temporary file beside `out` (same folder, so same file system) and is renamed over it: a
 * crash, a full disk or a concurrent build mid-write used to leave a truncated module that the frontend build then
 * compiled (or a watcher picked up), and a reader that had `out` open saw it emptied. An `out` that is one of the
 * inputs (`--out` the same file as `--app`, by any spelling or symlink) is refused: it replaced the app's build
 * with TypeScript, and the next run failed to load it. A symlinked `out` keeps its link: its target is replaced.
 * Returns the path written.
 */
export async function writeGeneratedModule(out: string, text: string, inputs: readonly string[]): Promise<string> {
  const target = await realPathOf(out);
  for (const input of inputs) {
    if ((await realPathOf(input)) === target) {
      throw new Error(`--out ${out} is the same file as the input ${input}: writing it would destroy the input. Choose another --out.`);
    }
  }
  await mkdir(dirname(target), { recursive: true });
  const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, text, { flag: 'wx' });
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return target;
}
