import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { pathPrefixOf } from '../health/reflex-routes.options.js';
import { pathRule } from './spa.options.js';
import { equivalentPathname } from './equivalent-pathname.js';

/**
 * A pathname whose last segment that is not empty has a file extension (`/assets/app.js`, `/favicon.ico`, and so
 * spelt with trailing slashes, `/assets/app.js/`, which send answers as a missing directory): a file, never a page.
 * Written so that it cannot backtrack far: the part before the dot holds no dot, so a segment is tried once from
 * each `/`, and the trailing slashes are retried only from the segment before them, in time linear in the path.
 * (`/\/[^/]*\.[^/]*$/` took time quadratic in a run of dots: one request for `/` + 16,000 dots + `/` held the event
 * loop for over 100 ms.)
 */
export const FILE_EXTENSION = /\/[^/.]*\.[^/]*\/*$/;

/**
 * The bundler's folder of content-hashed files under the SPA's base (`/assets`, `/assets/`, `/assets/...`): it
 * holds files only, so a path in it that no file answered is a missing file, never a page (the folder itself got
 * `index.html` with 200). As the files are, case-sensitive.
 */
export function assetsFolder(base: string, assetsPrefix: string): RegExp {
  const folder = `${base === '/' ? '' : base}${assetsPrefix.slice(0, -1)}`;
  return new RegExp(`^${escape(folder)}(?:/|$)`);
}

/**
 * A pathname with a segment starting with a dot, written or percent-encoded (`/.git/config`, `/%2e%2e/etc/passwd`,
 * `/.well-known/openid-configuration`): a dotfile or a well-known location, never a page of the SPA (browsers remove
 * `.` and `..` segments, `%2e` ones included, before sending). serve-static ignores dotfiles, and the fallback must not
 * answer them with `index.html` and 200 either: a client of `/.well-known/*` would get HTML for a document that does
 * not exist, and a scanner would see `/.git/config` or a traversal served.
 */
export const DOT_SEGMENT = /\/(?:\.|%2[eE])/;

/**
 * The paths the module itself answers, which neither the SPA fallback nor the dev-server proxy may ever take:
 * the event socket (`<prefix>/_event`), uploads (`<prefix>/_upload*`), everything under `/_bridge` (devtools,
 * cookie handoff) and wherever those were moved, ping, health and the metrics route. In any letter case (see
 * {@link pathRule}): Express routes case-insensitively, so `/_BRIDGE/devtools` is the devtools page and `/_BRIDGE/x` is
 * the module's too.
 */
export function reservedPaths(options: ResolvedReflexBridgeOptions): RegExp[] {
  const prefix = pathPrefixOf(options.path);
  const paths = [options.path, '/_bridge', options.cookieHandoffPath, options.reflexRoutes.ping, options.reflexRoutes.health, options.devtools?.path, options.metrics?.path];
  const rules = paths.filter((path): path is string => typeof path === 'string').map((path) => pathRule('path', path));
  // `/_upload` and anything it starts (`/_upload`, `/_upload/<file>`, `/_uploads`): Reflex's upload routes.
  rules.push(new RegExp(`^${escape(prefix)}/_upload`, 'i'));
  return rules;
}

/** What tells whether a pathname is left alone: {@link anyOf} a list of rules. */
export interface PathMatcher {
  test(pathname: string): boolean;
  /** The RegExps it tries, one per set of flags. */
  readonly patterns: readonly RegExp[];
}

/**
 * A matcher of what any of `rules` matches, in the pathname as sent or as a URL normaliser reads it
 * ({@link equivalentPathname}), each with its own flags (an app's `/^\/docs/i` stays case-insensitive):
 * rules with the same flags are joined into one RegExp. Without `g` and `y`, which would make a RegExp's `test`
 * start where its previous match ended, so that every other request for the same path went unmatched.
 */
export function anyOf(rules: RegExp[]): PathMatcher {
  const byFlags = new Map<string, string[]>();
  for (const rule of rules) {
    const flags = rule.flags.replace(/[gy]/g, '');
    byFlags.set(flags, [...(byFlags.get(flags) ?? []), `(?:${rule.source})`]);
  }
  const patterns = [...byFlags].map(([flags, sources]) => new RegExp(sources.join('|'), flags));
  const matches = (pathname: string): boolean => patterns.some((pattern) => pattern.test(pathname));
  return {
    patterns,
    // Spelt with doubled slashes or escaped letters (`//ping`, `/%70ing`), a path is still the one it names.
    test: (pathname) => {
      if (matches(pathname)) return true;
      const equivalent = equivalentPathname(pathname);
      return equivalent !== pathname && matches(equivalent);
    },
  };
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
