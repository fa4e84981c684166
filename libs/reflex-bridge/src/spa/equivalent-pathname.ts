/**
 * A percent-escape of an unreserved character (a letter, a digit, `-`, `_`, `~`): RFC 3986 says a URL means the same
 * with it decoded, and normalisers (proxies, caches, browsers' address bars) decode it. Not `.` (`%2e`): escaped dot
 * segments are left alone already (`DOT_SEGMENT`), and a deep link ending in `a%2e` names no file `a.`.
 */
const UNRESERVED_ESCAPE = /%(?:[46][1-9a-fA-F]|[57][0-9aA]|3[0-9]|2[dD]|5[fF]|7[eE])/g;

/** A run of slashes, which most servers and proxies (nginx's `merge_slashes`, on by default) read as one. */
const SLASHES = /\/{2,}/g;

/**
 * `pathname` as a URL normaliser reads it: escaped unreserved characters decoded, runs of slashes made one
 * (`//ping` and `/%70ing` are `/ping`); `pathname` itself when it has neither. Express routes neither spelling to the
 * route of the plain one, so the SPA's fallback took them for deep links and answered them with its page and 200:
 * a health probe of `//ping` saw a page and took the app for up. Matching the module's reserved paths against
 * this form too leaves them a 404; an app's page so spelt (`//cart`) is still its page.
 */
export function equivalentPathname(pathname: string): string {
  if (!pathname.includes('%') && !pathname.includes('//')) return pathname;
  return pathname.replace(UNRESERVED_ESCAPE, (escape) => String.fromCharCode(parseInt(escape.slice(1), 16))).replace(SLASHES, '/');
}
