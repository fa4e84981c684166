import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { Inject, Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import type { AbstractHttpAdapter, ApplicationConfig } from '@nestjs/core';
import { AbstractLoader, ExpressLoader, type ServeStaticModuleOptions } from '@nestjs/serve-static';
import { whenAnswerable } from '../common/pipelined-turn.js';
import { closeIfBodyUnread } from '../security/lingering-close.js';
import { destroyWhenUnread } from '../security/unread-answer.watch.js';
import { RepeatedErrorLog } from '../common/repeated-error-log.js';
import { SPA_FALLBACK_RULES, type SpaFallbackRules } from './spa-fallback.gate.js';
import { spaFallbackRoute } from './spa-fallback.route.js';
import { SpaIndexPage } from './spa-index.page.js';
import { errorAnswersUncached } from './error-answers-uncached.js';
import { requestPathname } from '../common/request-pathname.js';
import { pathRule } from './spa.options.js';

/**
 * serve-static's loader for the SPA, picked when the module initialises rather than when it is built.
 *
 * serve-static chooses its loader in a factory that runs when its providers are created and falls back to a loader
 * that serves nothing when no HTTP adapter is known yet. `Test.createTestingModule(...).compile()` creates providers
 * before `createNestApplication()` attaches the adapter, so an app's e2e tests would get no SPA at all. The adapter
 * is always known at `onModuleInit`, where serve-static calls `register`. The module's HTTP routes are Express's
 * (as the rest of the bridge), so the files are served by serve-static's own Express loader; after them comes the
 * deep-link fallback ({@link spaFallbackRoute}), which serves index.html from memory instead of serve-static's.
 */
@Injectable()
export class SpaStaticLoader extends AbstractLoader {
  private readonly express = new ExpressLoader();
  private readonly logger = new Logger('ReflexBridge');

  constructor(@Inject(SPA_FALLBACK_RULES) private readonly rules: SpaFallbackRules) {
    super();
  }

  /** Lines a file of the build that cannot be read may log: one per file and error a minute, ten in all. */
  private readonly unreadableFiles = new RepeatedErrorLog({ perKind: 1, perWindow: 10, windowMs: 60_000 });

  /**
   * serve-static's error for a file of the build it found but could not read (`ELOOP` for a symlink loop, `EACCES`
   * for a file the app's user may not read), as a 503 logged within limits. Handed on as it was, it was a 500 and an
   * error with its stack in the log for every request any client made for the file.
   */
  private unreadableFile(error: unknown): ServiceUnavailableException | undefined {
    const failure = error as { status?: unknown; syscall?: unknown; code?: unknown; path?: unknown } | null;
    if (typeof failure?.syscall !== 'string' || typeof failure.status !== 'number' || failure.status < 500) return undefined;
    const what = `${String(failure.path)} (${String(failure.code)})`;
    const verdict = this.unreadableFiles.take(what);
    if (verdict.log) {
      const before = verdict.notLoggedBefore > 0 ? ` (${verdict.notLoggedBefore} such failures not logged before this one)` : '';
      this.logger.error(`spa: ${what} cannot be read: answered 503${before}.`);
    }
    return new ServiceUnavailableException('The file cannot be served now');
  }

  register(httpAdapter: AbstractHttpAdapter | undefined, config: ApplicationConfig, options: ServeStaticModuleOptions[]): void {
    if (!httpAdapter || options.length === 0) return;
    // Before serve-static's handlers (registered next, after the app's routes): a pipelined request reaches them,
    // and opens its file, only when its answer's turn has come (see whenAnswerable).
    httpAdapter.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
      const page = req.method === 'GET' || req.method === 'HEAD';
      // A page or file is answered without reading a body: a GET that sends one anyway is not read on.
      if (page) closeIfBodyUnread(res, this.rules.addressKeying);
      const answer = () => {
        // A client that takes nothing of its file for spa.idleTimeoutMs is cut: it would keep the file open for good.
        if (page) res.once('close', destroyWhenUnread(res, this.rules.idleTimeoutMs));
        next();
      };
      const turn = whenAnswerable(req, res);
      if (turn === true) return answer();
      void turn.then((answerable) => (answerable ? answer() : undefined));
    });
    // A rootPath relative to another directory, or a build step that did not run, made every page a silent 404.
    const index = join(this.rules.rootPath, 'index.html');
    if (this.rules.rootPath !== '' && !existsSync(index)) {
      this.logger.warn(`spa.rootPath has no index.html (${index}): every page and deep link is a 404 until the build is there. Set spa.rootPath to the absolute path of the built frontend.`);
    }
    this.express.register(httpAdapter, config, options);
    const app = httpAdapter.getInstance<{ get(path: string, handler: unknown): void; use(handler: unknown): void }>();
    // send sets a file's headers before it checks Range and preconditions, and serve-static hands its 416 / 412 on
    // as errors with those headers left: an error answer went out `public, max-age=31536000, immutable`, with the
    // file's ETag, for a cache to keep as the file. An error answer is never to be cached.
    app.use((error: unknown, _req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => {
      if (!res.headersSent) {
        for (const name of ['ETag', 'Last-Modified', 'Accept-Ranges']) res.removeHeader(name);
        res.setHeader('Cache-Control', 'no-store');
      }
      next(this.unreadableFile(error) ?? error);
    });
    // What serve-static did not answer under the base is the fallback's or a 404's: an error is not to be cached.
    const under = pathRule('spa.base', this.rules.base);
    app.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
      if ((req.method === 'GET' || req.method === 'HEAD') && under.test(requestPathname(req))) errorAnswersUncached(res);
      next();
    });
    if (!this.rules.enabled) return;
    const { base, rootPath, exclusion } = this.rules;
    // As serve-static's render path: every path under the base (its param is decoded, so `%zz` is a 400).
    const route = base === '/' ? '{*any}' : `${base}/{*any}`;
    app.get(route, spaFallbackRoute(new SpaIndexPage(join(rootPath, 'index.html')), exclusion, this.logger));
  }
}
