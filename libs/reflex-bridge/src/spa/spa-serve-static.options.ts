import type { Stats } from 'node:fs';
import { join, sep } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { ServeStaticModuleOptions } from '@nestjs/serve-static';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { anyOf, assetsFolder, DOT_SEGMENT, FILE_EXTENSION, type PathMatcher, reservedPaths } from './reserved-paths.js';
import { ContentEtags } from './content-etags.js';

/** `Cache-Control` of the bundler's content-hashed files: a new build gives them new names. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';
/** `Cache-Control` of HTML: always revalidated, so a deploy's new asset names are seen at once. */
export const NO_CACHE = 'no-cache';

/**
 * What the SPA fallback leaves alone, tested against the pathname: the module's own routes, the app's
 * `spa.exclude`, any path whose last segment has a file extension (a missing asset must be a 404, not HTML), the
 * assets folder and all under it, and any path with a dot segment (a dotfile or `/.well-known/...`, never a page).
 */
export function fallbackExclusion(options: ResolvedReflexBridgeOptions): PathMatcher {
  const spa = options.spa;
  const assets = spa ? [assetsFolder(spa.base, spa.assetsPrefix)] : [];
  return anyOf([...reservedPaths(options), ...(spa?.exclude ?? []), FILE_EXTENSION, ...assets, DOT_SEGMENT]);
}

/**
 * The `ServeStaticModule` options serving `options.spa` (none when no SPA is served): the build directory under
 * `spa.base`, its `.well-known/` folder, and `Cache-Control` per file kind (the deep-link fallback is
 * {@link spaFallbackRoute}). serve-static registers them when its module initialises, after Nest registered the app's
 * controllers, so those answer first.
 */
export function serveStaticOptionsOf(options: ResolvedReflexBridgeOptions): ServeStaticModuleOptions[] {
  const spa = options.spa;
  if (!spa) return [];
  const assetsDir = join(spa.rootPath, spa.assetsPrefix) + (spa.assetsPrefix.endsWith('/') ? '' : sep);
  const otherFiles = `public, max-age=${spa.maxAgeSeconds}`;
  const etags = new ContentEtags();
  const serveStaticOptions = {
    dotfiles: 'ignore' as const,
    // No Last-Modified: reproducible builds (Nix, Bazel, BuildKit's rewrite-timestamp) give every file one time, so a
    // cache revalidating with If-Modified-Since alone would be told a changed file is fresh. The ETag is the validator.
    lastModified: false,
    // serve-static calls this for each file, before it sets its own defaults.
    setHeaders: (res: ServerResponse, path: string, stat: Stats) => {
      const hashedName = path.startsWith(assetsDir);
      res.setHeader('Cache-Control', path.endsWith('.html') ? NO_CACHE : hashedName ? IMMUTABLE : otherFiles);
      // The type is the one the extension gives: a browser must not guess another from the content (and run a text
      // file as a script); set here, as an app may run without a proxy that adds it.
      res.setHeader('X-Content-Type-Options', 'nosniff');
      // A file revalidated under the same name gets a validator from its content (send keeps an ETag set here).
      const etag = hashedName ? undefined : etags.of(path, stat);
      if (etag) res.setHeader('ETag', etag);
    },
  };
  return [
    {
      rootPath: spa.rootPath,
      ...(spa.base === '/' ? {} : { serveRoot: spa.base }),
      // serve-static's own fallback is off (it excludes every path): the deep-link fallback is spaFallbackRoute,
      // registered after these files by SpaStaticLoader, which serves index.html from memory.
      renderPath: '{*any}',
      exclude: /^/,
      serveStaticOptions: {
        ...serveStaticOptions,
        // Under a base, `/app` redirects to `/app/` (the page's relative URLs need the slash); at the root, no
        // directory redirects (`/assets` is not a page).
        redirect: spa.base !== '/',
      },
    },
    {
      // RFC 8615's `/.well-known/` (security.txt, apple-app-site-association, assetlinks.json: what a bundler copies
      // from public/) is the one dot-folder served. Rooted at the folder itself, so the dotfiles rule still keeps
      // `/.well-known/.anything` and every other dotfile out of reach.
      rootPath: join(spa.rootPath, '.well-known'),
      serveRoot: `${spa.base === '/' ? '' : spa.base}/.well-known`,
      renderPath: '{*any}',
      exclude: /^/,
      serveStaticOptions: { ...serveStaticOptions, redirect: false },
    },
  ];
}
