/**
 * The upload endpoint of a server: its origin, the prefix the event path has before `/_event` (as the server
 * computes its HTTP routes: `/api/_event` → `/api`), and `/_upload`. A `ws:`/`wss:` URL maps to `http:`/`https:`.
 * @param base The client's base URL (already resolved against the page in a browser).
 * @param eventPath The Engine.IO path of the event channel.
 * @param explicit The `uploadUrl` option, when given: used as is, resolved against `base`.
 * @throws TypeError when `explicit` is not a URL.
 */
export function uploadUrlOf(base: URL, eventPath: string, explicit?: string): string {
  const origin = new URL(base.href);
  if (origin.protocol === 'ws:') origin.protocol = 'http:';
  else if (origin.protocol === 'wss:') origin.protocol = 'https:';
  if (explicit !== undefined) {
    try {
      return new URL(explicit, origin).href;
    } catch (error) {
      throw new TypeError(`ReflexClient: "uploadUrl" must be a URL, got ${JSON.stringify(explicit)}.`, { cause: error });
    }
  }
  const path = eventPath.startsWith('/') ? eventPath : `/${eventPath}`;
  const prefix = path.endsWith('/_event') ? path.slice(0, -'/_event'.length) : '';
  return new URL(`${prefix}/_upload`, origin.origin).href;
}
