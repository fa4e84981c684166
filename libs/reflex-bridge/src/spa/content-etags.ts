import { createHash } from 'node:crypto';
import { readFileSync, type Stats } from 'node:fs';

/** Files larger than this keep serve-static's own validator: hashing them on the request path would cost too much. */
export const CONTENT_ETAG_MAX_BYTES = 1024 * 1024;

/**
 * Strong `ETag`s computed from a file's content, for the SPA's files whose names carry no hash (`index.html`, which
 * every deep link answers with, and `favicon.ico`, `robots.txt`, a service worker, ...).
 *
 * serve-static's own validator is `W/"<size>-<mtime>"`. Reproducible builds (Nix, Bazel, ko, BuildKit's
 * rewrite-timestamp) give every file the same mtime, and a rebuild's `index.html` usually keeps its size (bundlers'
 * hashes have a fixed length): the browser's revalidation of the old page got 304, so it kept loading the previous
 * deploy (and its lazy chunks, deleted by the deploy, failed). A hash of the content changes with every deploy.
 *
 * Each file is hashed once per version: a version is told by its inode, size, mtime and ctime (ctime changes on any
 * write or rename, whatever mtime a build set). Entries are per file path that exists under the build directory,
 * capped all the same.
 */
export class ContentEtags {
  private readonly entries = new Map<string, { version: string; etag: string }>();

  /**
   * @param maxEntries Files remembered (a few hundred bytes each). Above the build's count of files without a hash,
   * a client cycling through them (HEAD, a few bytes a request) made each request read and hash its file again on the
   * event loop, about 2 ms a MiB: 256 was below a public/ folder of product images.
   */
  constructor(private readonly maxEntries = 4096) {}

  /** The file's content ETag, or undefined when it is too large or cannot be read (serve-static's then applies). */
  of(path: string, stat: Stats): string | undefined {
    if (stat.size > CONTENT_ETAG_MAX_BYTES) return undefined;
    // A regular file only: a named pipe (size 0) read synchronously held the event loop until something wrote to it.
    if (typeof stat.isFile === 'function' && !stat.isFile()) return undefined;
    const version = `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
    const known = this.entries.get(path);
    if (known?.version === version) return known.etag;
    let content: Buffer;
    try {
      content = readFileSync(path);
    } catch {
      return undefined;
    }
    const etag = `"${createHash('sha256').update(content).digest('base64url')}"`;
    this.entries.delete(path);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(path, { version, etag });
    return etag;
  }
}
