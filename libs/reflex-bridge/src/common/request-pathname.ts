import type { IncomingMessage } from 'node:http';
import parseurl from 'parseurl';

/**
 * The pathname a request is routed by, read by Express's own reader (`parseurl`, on the original URL as Express's
 * router keeps it): the request target up to `?`, or, for a target that does not start with `/` or holds whitespace
 * or `#`, `url.parse`'s pathname: an absolute-form target's path (`GET http://host/_bridge/x HTTP/1.1`, which
 * HTTP/1.1 servers must accept; `/` when it has none), and a target with a `#` up to it, backslashes read as `/`
 * (`/_bridge#x` is `/_bridge`). Matching the raw target instead let `http://host/_bridge/x` or `/_bridge#x` slip past
 * the module's reservations and get the SPA's page while Express routed them to the module. An asterisk-form target
 * (`*`) comes back as it is, and one in which `url.parse` finds no path as `''`: neither starts with `/`, and nothing
 * takes them for a path.
 *
 * `parseurl` rather than a copy of its reading: the two cannot drift apart, its parse is memoized on the request for
 * Express's router, and Node 24 warns of `url.parse` (DEP0169) only when it is called from outside `node_modules`.
 */
export function requestPathname(req: IncomingMessage): string {
  try {
    return parseurl.original(req)?.pathname ?? '';
  } catch {
    // `http://[x/a`, `//%@ /`: Express's router gets no pathname either, and routes nothing by it.
    return '';
  }
}
