import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { pathPrefixOf } from '../health/reflex-routes.options.js';
import { pathRule } from './spa.options.js';

/**
 * A pathname whose last segment has a file extension (`/assets/app.js`, `/favicon.ico`): a file, never a page.
 * Written so that it cannot backtrack far: the part before the dot holds no dot, so a segment is tried once from
 * each `/`, in time linear in the path. (`/\/[^/]*\.[^/]*$/` took time quadratic in a run of dots: one request
 * for `/` + 16,000 dots + `/` held the event loop for over 100 ms.)
 */
export const FILE_EXTENSION = /\/[^/.]*\.[^/]*$/;

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
 * cookie handoff) and wherever those were moved, ping, health and the metrics route. In any letter case: Express
 * routes case-insensitively, so `/_BRIDGE/devtools` is the devtools page and `/_BRIDGE/x` is the module's too.
 */
export function reservedPaths(options: ResolvedReflexBridgeOptions): RegExp[] {
  const prefix = pathPrefixOf(options.path);
  const paths = [options.path, '/_bridge', options.cookieHandoffPath, options.reflexRoutes.ping, options.reflexRoutes.health, options.devtools?.path, options.metrics?.path];
  const rules = paths.filter((path): path is string => typeof path === 'string').map((path) => pathRule('path', path));
  // `/_upload` and anything it starts (`/_upload`, `/_upload/<file>`, `/_uploads`): Reflex's upload routes.
  rules.push(new RegExp(`^${escape(prefix)}/_upload`));
  return rules.map(anyLetterCase);
}

/**
 * `rule` matching its letters in either case, written out as `[aA]` (one RegExp's flags are lost when
 * {@link anyOf} joins it with others, and Node 20 has no inline `(?i:...)`). For the module's own rules only, whose
 * sources hold no escaped letter or character class.
 */
function anyLetterCase(rule: RegExp): RegExp {
  return new RegExp(rule.source.replace(/\\.|[a-zA-Z]/g, (part) => (part.length === 1 ? `[${part.toLowerCase()}${part.toUpperCase()}]` : part)));
}

/** One RegExp matching what any of `rules` matches (serve-static's `exclude` takes one RegExp). */
export function anyOf(rules: RegExp[]): RegExp {
  return new RegExp(rules.map((rule) => `(?:${rule.source})`).join('|'));
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
