import { Inject, Injectable } from '@nestjs/common';
import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, isAbsolute, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { whenAnswerable } from '../common/pipelined-turn.js';
import { byteRangeOf, type ByteRange } from './stored-file-range.js';
import { isUnchanged, rangeStillApplies, validatorsOf } from './stored-file-validators.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import { destroyWhenUnread } from '../security/unread-answer.watch.js';
import { DEFAULT_UPLOAD_OPTIONS } from './upload.options.js';
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

/**
 * Stored files may be any user's, for the app alone to show: `private` keeps them out of shared caches (a CDN or
 * proxy would keep serving a file the app deleted or replaced, to anyone), and `no-cache` lets the browser keep its
 * copy but check it (a `304` when unchanged, through the ETag) before each use, so a replaced file never shows stale.
 */
const CACHE_CONTROL = 'private, no-cache';

const WHOLE: ByteRange = { kind: 'whole' };

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
 *
 * A single byte range (`Range: bytes=…`) is answered `206` with `Content-Range` (what media players, Safari's above
 * all, and resumed downloads need), one that starts past the end `416`; several distinct ranges get the whole file.
 * Each file carries a strong `ETag` and `Last-Modified` (`If-None-Match` and `If-Modified-Since` get `304`; a range
 * under an `If-Range` the file no longer matches gets the whole file) and `Cache-Control: private, no-cache`.
 * @publicApi
 */
@Injectable()
export class UploadedFileServer {
  private readonly directory: string | undefined;
  /** `uploads.idleTimeoutMs`: how long a client may take nothing of a file's answer before it is cut. */
  private readonly idleMs: number;
  private realDirectory: Promise<string | undefined> | undefined;

  constructor(@Inject(RESOLVED_OPTIONS) options: ResolvedReflexBridgeOptions) {
    this.directory = options.uploads?.directory;
    this.idleMs = options.uploads?.idleTimeoutMs ?? DEFAULT_UPLOAD_OPTIONS.idleTimeoutMs;
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
      const validators = validatorsOf(size, mtime);
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Accept-Ranges', 'bytes');
      res.setHeader('ETag', validators.etag);
      res.setHeader('Last-Modified', validators.lastModified);
      res.setHeader('Cache-Control', CACHE_CONTROL);
      if (contentType !== 'application/pdf') {
        res.setHeader('Content-Disposition', 'attachment');
        // Should a browser render it anyway (an old one, an extension, a link opened as a page), it renders without
        // script, forms or same-origin access. Not for PDFs: browsers refuse to show a sandboxed PDF inline.
        res.setHeader('Content-Security-Policy', "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox");
      }
      if (isUnchanged(req.headers, validators)) {
        res.statusCode = 304;
        res.end();
        return;
      }
      // A range the file changed under (If-Range) is ignored: the whole file, never a part of another version.
      const range = rangeStillApplies(req.headers['if-range'], validators) ? byteRangeOf(req.headers.range, size) : WHOLE;
      if (range.kind === 'unsatisfiable') {
        res.statusCode = 416;
        res.setHeader('Content-Range', `bytes */${size}`);
        res.setHeader('Content-Type', 'application/json');
        res.setHeader('Cache-Control', 'no-store');
        res.end(JSON.stringify({ detail: 'Range Not Satisfiable', code: 'range_not_satisfiable' }));
        return;
      }
      const start = range.kind === 'part' ? range.start : 0;
      const length = range.kind === 'part' ? range.end - range.start + 1 : size;
      res.statusCode = range.kind === 'part' ? 206 : 200;
      if (range.kind === 'part') res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
      res.setHeader('Content-Type', contentType);
      res.setHeader('Content-Length', length);
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      // The handle is the file that was checked: a swap of the path after the checks changes nothing. Exactly the
      // bytes announced in Content-Length are sent: a file that grew meanwhile (a handler still writing it) would put
      // its extra bytes where the client reads the next answer on the connection; one that shrank would leave the
      // client taking the next answer for the rest of the file, so its connection is closed instead.
      if (length > 0) {
        const stream = handle.createReadStream({ start, end: start + length - 1, autoClose: false });
        // A client that takes nothing for `uploads.idleTimeoutMs` is cut: it would keep the file open for good.
        const stopWatch = destroyWhenUnread(res, this.idleMs);
        try {
          await pipeline(stream, res, { end: false });
        } finally {
          stopWatch();
        }
        if (stream.bytesRead !== length) {
          res.destroy();
          return;
        }
      }
      res.end();
    } catch {
      // The client went away mid-file, or the disk failed: nothing more to send.
      if (!res.headersSent) {
        // The file's headers (its Content-Length above all) do not describe the 404 sent instead.
        for (const header of res.getHeaderNames()) res.removeHeader(header);
        notFound(res);
      } else res.destroy();
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
