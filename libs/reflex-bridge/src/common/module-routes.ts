import { InvalidOptionError } from '../invalid-option.error.js';

/** One HTTP path the module answers, and the option that sets it. */
export interface ModuleRoute {
  /** The option named in the error (`metrics.path`, `reflexRoutes.health`). */
  option: string;
  path: string;
  /** Whether every path under it is the route's too (`devtools.path/events`, `<cookieHandoffPath>/<token>`). */
  subtree: boolean;
}

/**
 * The path as Express matches it: in any letter case, a trailing slash ignored (`/Metrics/` is `/metrics`).
 */
function matchedAs(path: string): string {
  const lower = path.toLowerCase();
  return lower.length > 1 && lower.endsWith('/') ? lower.replace(/\/+$/, '') || '/' : lower;
}

/** Whether `route` answers `path` (the same path, or one under a route that owns its subtree). */
function answers(route: ModuleRoute, path: string): boolean {
  const own = matchedAs(route.path);
  const other = matchedAs(path);
  return own === other || (route.subtree && other.startsWith(own === '/' ? '/' : `${own}/`));
}

/**
 * Why `path` is no path a client's request reaches as written, or undefined when it is one: a `.` or `..` segment
 * (browsers, curl and Prometheus resolve them before sending: `/a/../_health` is requested as `/_health`, which
 * another route answers, while the route itself is never reached), or an empty one (`//metrics`, `/a//b`: nginx
 * merges the slashes by default, and the collision check would not see `//_health` is `/_health`). A trailing slash
 * is not one (Express ignores it, as {@link matchedAs} does).
 */
function unreachableBecause(path: string): string | undefined {
  const segments = path.split('/').slice(1);
  if (segments.length > 1 && segments.at(-1) === '') segments.pop();
  if (segments.some((segment) => segment === '.' || segment === '..')) return 'a "." or ".." segment, which clients resolve before they send the request';
  if (segments.length > 1 && segments.includes('')) return 'an empty segment ("//"), which proxies merge before they pass the request on';
  return undefined;
}

/**
 * Refuses module routes that would answer the same requests, and an SPA `base` that one of them takes: each is
 * registered on the app's HTTP adapter, where the first registered silently answers for both (a `metrics.path` of
 * `/_health` served the metrics to the load balancer, or the health to Prometheus, by the order of registration).
 * The error names both options. A path with a dot segment or an empty one is refused first (see
 * {@link unreachableBecause}). `alsoReserved` are paths the module keeps from the SPA without answering them itself
 * (`/_bridge`, the prefix of its own routes): the SPA's fallback and caching leave them alone, so a base under one
 * would never be served either.
 */
export function refuseRouteCollisions(routes: readonly ModuleRoute[], spaBase?: string, alsoReserved: readonly ModuleRoute[] = []): void {
  for (const { option, path } of spaBase === undefined ? routes : [...routes, { option: 'spa.base', path: spaBase }]) {
    const why = unreachableBecause(path);
    if (why) throw new InvalidOptionError(option, `"${path}" has ${why}: requests would never reach it as written, and it could answer another route's. Write the path without it.`);
  }
  for (let later = 1; later < routes.length; later++) {
    for (let earlier = 0; earlier < later; earlier++) {
      const [a, b] = [routes[earlier]!, routes[later]!];
      if (answers(a, b.path) || answers(b, a.path)) {
        throw new InvalidOptionError(b.option, `"${b.path}" collides with ${a.option} ("${a.path}"): one route would answer the other's requests, and the other would never be reached. Move one of them.`);
      }
    }
  }
  if (spaBase === undefined) return;
  for (const route of [...routes, ...alsoReserved]) {
    if (answers(route, spaBase)) {
      throw new InvalidOptionError('spa.base', `"${spaBase}" is taken by ${route.option} ("${route.path}"): the module's route answers there, so the SPA would never be served. Move one of them.`);
    }
  }
}
