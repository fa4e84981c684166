// A deep import of a dependency-free file: the package root is CommonJS that require()s Nest 12's ES modules, which
// Node 20 itself handles but Jest on Node 20 cannot, so loading it here would break every app's Jest suite.
import { normalizeIp } from '@nestjs/throttler/dist/ip.js';

/**
 * A client's IP address: with a trusted proxy (`bridge.trustProxy`), the last `X-Forwarded-For` entry (the address
 * the proxy itself saw; earlier entries come from the client and can be forged), else the peer address.
 * @param forwardedFor the request's `X-Forwarded-For` header; repeated headers are joined as Node joins them.
 */
export function clientIp(forwardedFor: string | readonly string[] | undefined, remoteAddress: string, trustProxy: boolean): string {
  const forwarded = typeof forwardedFor === 'string' ? forwardedFor : forwardedFor?.join(', ');
  if (trustProxy && forwarded) return forwarded.split(',').at(-1)!.trim();
  return remoteAddress;
}

/**
 * The key per-address limits count a client IP under, as `ThrottlerGuard` keys it: an IPv6 address is grouped by its
 * first `ipv6SubnetPrefix` bits (`rateLimit.ipv6SubnetPrefix`), since one client usually holds a whole /64 and would
 * otherwise count as billions of clients; an IPv4-mapped IPv6 address counts as its IPv4 address.
 */
export function addressKey(ip: string, ipv6SubnetPrefix: number): string {
  return normalizeIp(ip, ipv6SubnetPrefix);
}
