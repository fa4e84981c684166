import type { IncomingMessage } from 'node:http';
import { parse } from 'node:url';

/**
 * What makes Express's `parseurl` leave its fast path (the target up to `?`) for `url.parse`: a target that does not
 * start with `/` (absolute-form, asterisk-form), or one holding whitespace or `#` anywhere.
 */
const PARSED_IN_FULL = /[\t\n\f\r #\u00a0\ufeff]/;

/**
 * The pathname a request is routed by, read as Express reads it (its `parseurl`): the request target up to `?`, or,
 * for a target `parseurl` hands to `url.parse`, that parse's pathname: an absolute-form target's path
 * (`GET http://host/_bridge/x HTTP/1.1`, which HTTP/1.1 servers must accept; `/` when it has none), and a target
 * with a `#` up to it, backslashes read as `/` (`/_bridge#x` is `/_bridge`). Matching the raw target instead let
 * `http://host/_bridge/x` or `/_bridge#x` slip past the module's reservations and get the SPA's page while Express
 * routed them to the module. An asterisk-form target (`*`) comes back as it is, and one in which `url.parse` finds
 * no path as `''`: neither starts with `/`, and nothing takes them for a path.
 */
export function requestPathname(req: IncomingMessage): string {
  const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  if (url.startsWith('/') && !PARSED_IN_FULL.test(url)) {
    const query = url.indexOf('?');
    return query === -1 ? url : url.slice(0, query);
  }
  try {
    return parse(url).pathname ?? '';
  } catch {
    // `http://[x/a`, `//%@ /`: Express's router gets no pathname either, and routes nothing by it.
    return '';
  }
}
