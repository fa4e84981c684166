import { type LoggerService, NotFoundException, PreconditionFailedException, ServiceUnavailableException } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import fresh from 'fresh';
import type { SpaIndexPage, SpaIndexVersion } from './spa-index.page.js';
import { NO_CACHE } from './spa-serve-static.options.js';
import { requestPathname } from '../common/request-pathname.js';
import type { PathMatcher } from './reserved-paths.js';

type Next = (error?: unknown) => void;

/**
 * The deep-link fallback: a `GET`/`HEAD` that no route and no file answered, and that `exclusion` leaves to it, gets
 * `index.html` from memory ({@link SpaIndexPage}), `no-cache`, with a strong ETag of its content.
 *
 * The page stands for a route, not for the file's bytes, so `Range` is ignored (serve-static's fallback answered an
 * unsatisfiable range with a 404 whose Content-Type was text/html and whose body was JSON) and no `Last-Modified` is
 * sent (a build's mtime says nothing of the content, see {@link ContentEtags}). `If-None-Match` revalidates (304);
 * `If-Match` naming another version is a 412 with Nest's JSON body.
 */
export function spaFallbackRoute(page: SpaIndexPage, exclusion: PathMatcher, logger: LoggerService): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  // Whether the last read failed for another reason than a missing file, so that an outage is logged once.
  let unreadable = false;
  return (req, res, next) => {
    const path = requestPathname(req);
    // Only a path can be a page (not the asterisk-form `*`).
    if (!path.startsWith('/') || exclusion.test(path)) return next();
    page.read().then(
      (version) => {
        unreadable = false;
        answer(req, res, next, version);
      },
      (error: NodeJS.ErrnoException) => {
        // No index.html in the build (yet, or a deploy is swapping it): the route is unknown, as it would be without the SPA.
        if (error?.code === 'ENOENT' || error?.code === 'ENOTDIR') return next(new NotFoundException(`Cannot ${req.method} ${path}`));
        // It is there but cannot be read (a directory, a file the app's user may not read, no file descriptor left):
        // handed on as is, it was a 500 with Nest's error log and stack for every deep link any client asked for.
        if (!unreadable) {
          unreadable = true;
          logger.error(`spa: ${page.path} cannot be read (${error?.code ?? String(error)}): deep links answer 503 until it can. Not logged again until it is read.`);
        }
        next(new ServiceUnavailableException('The page cannot be served now'));
      },
    );
  };
}

function answer(req: IncomingMessage, res: ServerResponse, next: Next, { body, etag }: SpaIndexVersion): void {
  const ifMatch = req.headers['if-match'];
  if (ifMatch !== undefined && !ifMatch.split(',').some((tag) => tag.trim() === '*' || tag.trim() === etag)) {
    return next(new PreconditionFailedException(`The page is no longer ${ifMatch.slice(0, 100)}`));
  }
  res.setHeader('Cache-Control', NO_CACHE);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('ETag', etag);
  if (fresh(req.headers, { etag })) {
    res.statusCode = 304;
    res.end();
    return;
  }
  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Content-Length', body.length);
  // The same Buffer for every answer: a connection holds a reference to it, not a copy.
  res.end(req.method === 'HEAD' ? undefined : body);
}
