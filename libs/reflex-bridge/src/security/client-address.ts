// A deep import of a dependency-free file: the package root is CommonJS that require()s Nest 12's ES modules, which
// Node 20 itself handles but Jest on Node 20 cannot, so loading it here would break every app's Jest suite.
import { normalizeIp } from '@nestjs/throttler/dist/ip.js';
import type { IncomingMessage } from 'node:http';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';

/** `203.0.113.7:51234`: an IPv4 address with the client's source port, as some proxies write it. */
const IPV4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;
/** `[2001:db8::1]:51234` or `[2001:db8::1]`: an IPv6 address in brackets, with or without a port. */
const BRACKETED_IPV6 = /^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$/;

/**
 * An `X-Forwarded-For` entry without the source port some proxies append (Azure Application Gateway, IIS ARR:
 * `203.0.113.7:51234`, `[2001:db8::1]:51234`). The port changes with every connection the client opens: kept, it made
 * each connection an address of its own, with limits of its own (a password guesser opening a connection per guess
 * was never limited). A bare IPv6 address (colons, no brackets) has no port and stays as it is.
 */
function withoutPort(entry: string): string {
  const match = IPV4_WITH_PORT.exec(entry) ?? BRACKETED_IPV6.exec(entry);
  return match ? match[1]! : entry;
}

/**
 * A client's IP address: with a trusted proxy (`bridge.trustProxy`), the last `X-Forwarded-For` entry (the address
 * the proxy itself saw; earlier entries come from the client and can be forged), without a port the proxy may have
 * added, else the peer address.
 * @param forwardedFor the request's `X-Forwarded-For` header; repeated headers are joined as Node joins them.
 */
export function clientIp(forwardedFor: string | readonly string[] | undefined, remoteAddress: string, trustProxy: boolean): string {
  const forwarded = typeof forwardedFor === 'string' ? forwardedFor : forwardedFor?.join(', ');
  if (trustProxy && forwarded) return withoutPort(forwarded.split(',').at(-1)!.trim());
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

/** Where a request's client address comes from and how it is grouped, as every per-address limit keys it. */
export interface AddressKeying {
  /** `bridge.trustProxy`: the last `X-Forwarded-For` entry is the client's address. */
  readonly trustProxy: boolean;
  /** `rateLimit.ipv6SubnetPrefix`: the bits of an IPv6 address that make one client. */
  readonly ipv6SubnetPrefix: number;
}

/** How the module's options say a request's client address is keyed (`bridge.trustProxy`, `rateLimit.ipv6SubnetPrefix`). */
export function addressKeyingOf(options: Pick<ResolvedReflexBridgeOptions, 'bridge' | 'rateLimit'>): AddressKeying {
  return { trustProxy: options.bridge.trustProxy === true, ipv6SubnetPrefix: options.rateLimit.ipv6SubnetPrefix };
}

/** The key `request`'s client address counts under for per-address limits ({@link clientIp}, {@link addressKey}). */
export function requestAddressKey(request: IncomingMessage, keying: AddressKeying): string {
  return addressKey(clientIp(request.headers['x-forwarded-for'], request.socket.remoteAddress ?? '', keying.trustProxy), keying.ipv6SubnetPrefix);
}
