import { isIP } from 'node:net';

/**
 * Whether a development-only surface may answer a request addressed to `host` (its `Host` header): the devtools,
 * which show every user's events, tokens and states, and the split_dev proxy to the frontend's dev server, which
 * serves the app's sources. Both run where a developer browses: a page on any site can point its own domain name at
 * 127.0.0.1 (DNS rebinding), after which the browser sends that name as `Host` and `Origin` alike, and reads the
 * answers as its own origin's. A rebinding needs a domain name, so IP addresses and `localhost` (which browsers
 * resolve to loopback themselves) are always served; another name only when listed in `allowedHosts` (exactly, or
 * with a leading dot, it and its subdomains), as Vite's dev server does.
 */
export function isDevelopmentHostAllowed(host: string | undefined, allowedHosts: readonly string[]): boolean {
  if (host === undefined) return false;
  const name = hostnameOf(host.trim().toLowerCase());
  if (name === undefined) return false;
  if (isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost')) return true;
  return allowedHosts.some((allowed) => (allowed.startsWith('.') ? name === allowed.slice(1) || name.endsWith(allowed) : name === allowed));
}

/** The name of `host[:port]` (brackets of an IPv6 address removed, a trailing dot dropped), or `undefined`. */
function hostnameOf(host: string): string | undefined {
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/.exec(host);
  const name = match?.[1] ?? match?.[2];
  return name?.endsWith('.') ? name.slice(0, -1) : name;
}
