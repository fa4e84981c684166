import { Inject, Injectable } from '@nestjs/common';
import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, isAbsolute, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { whenAnswerable } from '../common/pipelined-turn.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';

/**
 * Served as plain text: a user's script or style sheet from the app's origin, with its executable type, is a
 * subresource any HTML injection could load past a `script-src 'self'` CSP (or register as a service worker), which
 * neither `Content-Disposition` nor the response's own CSP prevents. With `nosniff`, browsers refuse to run or apply
 * a `text/plain` file.
 */
const PLAIN_TEXT = 'text/plain; charset=utf-8';

/** Content types by extension. Anything else is `application/octet-stream`; all are sent as downloads but PDFs. */
const CONTENT_TYPES: Record<string, string> = {
  '.avif': 'image/avif',
  '.bmp': 'image/bmp',
  '.css': PLAIN_TEXT,
  '.csv': 'text/csv; charset=utf-8',
  '.gif': 'image/gif',
  '.htm': 'text/html; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.ico': 'image/x-icon',
  '.jpeg': 'image/jpeg',
  '.jpg': 'image/jpeg',
  '.js': PLAIN_TEXT,
  '.json': 'application/json',
  '.md': 'text/markdown; charset=utf-8',
  '.mjs': PLAIN_TEXT,
  '.mp3': 'audio/mpeg',
  '.mp4': 'video/mp4',
  '.ogg': 'audio/ogg',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.wav': 'audio/wav',
  '.webm': 'video/webm',
  '.webp': 'image/webp',
  '.xml': 'application/xml',
  '.zip': 'application/zip',
};

// eslint-disable-next-line no-control-regex
const UNSAFE_SEGMENT = /[\u0000-\u001f\u007f/\\]/;

function notFound(res: ServerResponse): void {
  res.statusCode = 404;
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify({ detail: 'Not Found', code: 'upload_not_found' }));
}

/** True when `target` is `root` itself or lies inside it. */
function isInside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

/**
 * Serves `GET <prefix>/_upload/<path>`: the files the app stored in `uploads.directory`, as Reflex does. Every answer
 * carries `X-Content-Type-Options: nosniff`, and files are sent with `Content-Disposition: attachment` (PDFs excepted),
 * so an uploaded HTML or SVG file never runs as a page of the app's origin; scripts and style sheets (`.js`, `.mjs`,
 * `.css`) are sent as `text/plain`, so no page of the origin can load one as its script or style.
 *
 * Anything but a regular file inside the directory is 404: a path with `..` or `.` segments (also percent-encoded,
 * `%2e%2e`), encoded separators (`%2f`, `%5c`), NUL or other control characters, malformed percent-encoding, a
 * directory, a missing file, and a symlink that resolves outside the directory. Files are streamed, never read whole.
 * @publicApi
 */
@Injectable()
export class UploadedFileServer {
  private readonly directory: string | undefined;
  private realDirectory: Promise<string | undefined> | undefined;

  constructor(@Inject(RESOLVED_OPTIONS) options: ResolvedReflexBridgeOptions) {
    this.directory = options.uploads?.directory;
  }

  /**
   * Answers `req` with the file at `encodedPath`: the request path after `<prefix>/_upload/`, still percent-encoded
   * (a query string is ignored). Answers `GET` and `HEAD`; other methods get 405.
   */
  async serve(req: IncomingMessage, res: ServerResponse, encodedPath: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.statusCode = 405;
      res.setHeader('Allow', 'GET, HEAD');
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.end();
      return;
    }
    // A pipelined request's file is opened when its answer's turn comes, not while the client reads nothing.
    const turn = whenAnswerable(req, res);
    if (turn !== true && !(await turn)) return;
    const file = await this.openFile(encodedPath);
    if (!file) return notFound(res);
    const { handle, size, mtime, name } = file;
    try {
      const contentType = CONTENT_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
      res.statusCode = 200;
      res.setHeader('Content-Type', contentType);
      res.setHeader('Content-Length', size);
      res.setHeader('Last-Modified', mtime.toUTCString());
      res.setHeader('X-Content-Type-Options', 'nosniff');
      if (contentType !== 'application/pdf') {
        res.setHeader('Content-Disposition', 'attachment');
        // Should a browser render it anyway (an old one, an extension, a link opened as a page), it renders without
        // script, forms or same-origin access. Not for PDFs: browsers refuse to show a sandboxed PDF inline.
        res.setHeader('Content-Security-Policy', "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox");
      }
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      // The handle is the file that was checked: a swap of the path after the checks changes nothing. Exactly the
      // bytes announced in Content-Length are sent: a file that grew meanwhile (a handler still writing it) would put
      // its extra bytes where the client reads the next answer on the connection; one that shrank would leave the
      // client taking the next answer for the rest of the file, so its connection is closed instead.
      if (size > 0) {
        const stream = handle.createReadStream({ start: 0, end: size - 1, autoClose: false });
        await pipeline(stream, res, { end: false });
        if (stream.bytesRead !== size) {
          res.destroy();
          return;
        }
      }
      res.end();
    } catch {
      // The client went away mid-file, or the disk failed: nothing more to send.
      if (!res.headersSent) notFound(res);
      else res.destroy();
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  /** Opens the regular file `encodedPath` names inside the directory, or undefined for anything else. */
  private async openFile(encodedPath: string): Promise<{ handle: FileHandle; size: number; mtime: Date; name: string } | undefined> {
    const root = await this.realRoot();
    if (root === undefined) return undefined;
    const path = encodedPath.replace(/[?#].*$/s, '');
    const segments: string[] = [];
    for (const raw of path.split('/')) {
      let segment: string;
      try {
        segment = decodeURIComponent(raw);
      } catch {
        return undefined;
      }
      if (segment === '' || segment === '.' || segment === '..' || UNSAFE_SEGMENT.test(segment)) return undefined;
      segments.push(segment);
    }
    if (segments.length === 0) return undefined;
    const target = join(root, ...segments);
    if (!isInside(root, target)) return undefined;
    let real: string;
    try {
      // Symlinks are followed, then the real place must still be inside the directory.
      real = await realpath(target);
    } catch {
      return undefined;
    }
    if (!isInside(root, real)) return undefined;
    let handle: FileHandle;
    try {
      // Non-blocking, so a FIFO planted in the directory cannot hang the open; it then fails the regular-file check.
      handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      return undefined;
    }
    try {
      const stat = await handle.stat();
      if (stat.isFile()) return { handle, size: stat.size, mtime: stat.mtime, name: real };
    } catch {
      // fall through: not servable
    }
    await handle.close().catch(() => undefined);
    return undefined;
  }

  /** The directory with its own symlinks resolved; undefined while it does not exist (nothing stored yet) or uploads are off. */
  private async realRoot(): Promise<string | undefined> {
    if (this.directory === undefined) return undefined;
    this.realDirectory ??= realpath(this.directory).catch(() => undefined);
    const root = await this.realDirectory;
    // Not created yet: look again next time rather than remembering its absence.
    if (root === undefined) this.realDirectory = undefined;
    return root;
  }
}
