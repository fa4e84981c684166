import type { IncomingMessage } from 'node:http';

/** `scheme://authority` at the start of an absolute-form request target. */
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/**
 * The pathname a request is routed by, as Express reads it: the request target up to `?`, and for an absolute-form
 * target (`GET http://host/_bridge/x HTTP/1.1`, which HTTP/1.1 servers must accept) its path, `/` when it has none.
 * Matching the raw target instead let `http://host/_bridge/x` or `http://host/_event/...` slip past the module's
 * reservations and get the SPA's page, while Express routed the same target to the module. An asterisk-form target
 * (`*`) stays as it is: it is no path, and nothing matches it as one.
 */
export function requestPathname(req: IncomingMessage): string {
  const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  const query = url.indexOf('?');
  const target = query === -1 ? url : url.slice(0, query);
  if (target.startsWith('/')) return target;
  const authority = ABSOLUTE_FORM.exec(target);
  if (!authority) return target;
  return target.slice(authority[0].length) || '/';
}
