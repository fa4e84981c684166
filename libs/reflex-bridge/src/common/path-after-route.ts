import type { IncomingMessage } from 'node:http';

/**
 * The rest of the request's path after `prefix`, the literal start of the route the router matched it to: still
 * percent-encoded, without the query, or `undefined` when the path does not start with `prefix`.
 *
 * Read from `req.url`, the path the router matched (a parent app that mounts this one has already removed its own
 * mount path from it), and compared without regard to letter case, as Express routes: searching the whole URL for the
 * prefix found nothing in `/_UPLOAD/a.png`, which Express sent to the route all the same, and found the prefix in a
 * query such as `?next=/_upload/b.png`, which then named what was served. The caller decodes the rest once, itself
 * (its route registered with `undecodedRoutePath`, so Express decodes nothing): Express's own `req.params` are decoded
 * already (an encoded `/` is a plain `/` there) and a malformed escape in them is Express's 400, where the routes
 * answer as for anything else they do not serve.
 */
export function pathAfterRoute(req: IncomingMessage, prefix: string): string | undefined {
  const url = req.url ?? '';
  const queryAt = url.search(/[?#]/);
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  if (path.slice(0, prefix.length).toLowerCase() !== prefix.toLowerCase()) return undefined;
  return path.slice(prefix.length);
}
