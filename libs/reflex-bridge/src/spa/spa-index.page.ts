import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';

/** One version of `index.html`: its bytes and their strong `ETag`. */
export interface SpaIndexVersion {
  body: Buffer;
  etag: string;
}

/**
 * The SPA's `index.html`, held in memory for the deep-link fallback, which answers every page route with it.
 *
 * serve-static's fallback stat'ed the file synchronously (on the event loop) and then opened, read and closed it again
 * for each deep link. Here each request costs one `stat` (shared by the requests that arrive while it runs), and the
 * file is read once per version: a version is told by inode, size, mtime and ctime, so a deploy that renames a new
 * file in place or writes over the old one (whatever mtime the build gave it) is served from the next request on.
 */
export class SpaIndexPage {
  private current: (SpaIndexVersion & { version: string }) | undefined;
  private loading: { version: string; done: Promise<SpaIndexVersion & { version: string }> } | undefined;
  private statting: Promise<Stats> | undefined;

  constructor(readonly path: string) {}

  /** The page as it is on disk now; rejects as `fs` does (ENOENT when the build has no index.html). */
  async read(): Promise<SpaIndexVersion> {
    const version = versionOf(await this.statNow());
    if (this.current?.version === version) return this.current;
    let loading = this.loading;
    if (loading?.version !== version) {
      const done = readFile(this.path).then((body) => ({ version, body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` }));
      const started = { version, done };
      loading = started;
      this.loading = started;
      // Only the newest load becomes current: an older one finishing late must not replace it.
      done.then(
        (read) => {
          if (this.loading !== started) return;
          this.loading = undefined;
          this.current = read;
        },
        () => {
          if (this.loading === started) this.loading = undefined;
        },
      );
    }
    return loading.done;
  }

  private statNow(): Promise<Stats> {
    if (this.statting) return this.statting;
    const statting = stat(this.path);
    this.statting = statting;
    const clear = (): void => {
      if (this.statting === statting) this.statting = undefined;
    };
    statting.then(clear, clear);
    return statting;
  }
}

function versionOf(stats: Stats): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
}
