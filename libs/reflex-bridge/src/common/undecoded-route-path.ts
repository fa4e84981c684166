/** Characters with a meaning in a regular expression, escaped where a prefix is written into one. */
const REGEXP_SPECIALS = /[\\^$.*+?()[\]{}|/-]/g;

/**
 * An Express route path for `prefix` (its literal start, ending in `/`) followed by one path segment (`'segment'`, as
 * `<prefix>:id` matched it, a trailing slash allowed) or by the rest of the path, any number of segments (`'rest'`,
 * as `<prefix>*path`): matched in any letter case, as Express matches string paths, and leaving what follows the
 * prefix undecoded, for the route to read with `pathAfterRoute` and decode itself.
 *
 * Why: Express decodes a string route's parameters before the route runs, and a malformed percent escape there
 * (`%E0%A4%A`) is its own `400 Failed to decode param`, in Nest's default shape, kept alive: the route never answered
 * as it does for anything it does not serve, and an endless body sent after the request was read on (9.4 GB in 12 s).
 * A regular expression without capturing groups has nothing Express decodes.
 */
export function undecodedRoutePath(prefix: string, rest: 'segment' | 'rest'): RegExp {
  const start = `^${prefix.replace(REGEXP_SPECIALS, '\\$&')}`;
  return new RegExp(rest === 'segment' ? `${start}[^/]+/?$` : `${start}[^]+$`, 'i');
}
