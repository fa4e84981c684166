/**
 * The Redis URLs among `urls` that reach a Redis over the network without a password: `redis://` or `rediss://`,
 * no password in the URL (nor in `defaults`, for a cluster's root nodes), and a host other than this machine's
 * loopback. The app works with such a URL only if that Redis lets anyone in. Returned as `host:port`, never with
 * credentials; URLs that do not parse are left to the options' own validation.
 */
export function redisWithoutPassword(urls: readonly (string | undefined)[]): string[] {
  const found: string[] = [];
  for (const url of urls) {
    if (url === undefined) continue;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      continue;
    }
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') continue;
    if (parsed.password !== '' || isLoopback(parsed.hostname)) continue;
    const address = `${parsed.hostname}:${parsed.port || '6379'}`;
    if (!found.includes(address)) found.push(address);
  }
  return found;
}

/** `localhost`, 127.0.0.0/8 or `::1`: reachable from this machine only. */
function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}
