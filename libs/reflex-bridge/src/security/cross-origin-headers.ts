import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OriginPolicy } from './origin-policy.js';

/**
 * Sets the CORS headers (with credentials) the module's HTTP routes give a request whose `Origin` is listed in
 * `corsOrigins` (or any origin with `corsOrigins: true`): what lets a frontend served from another origin read
 * the answer. Always sets `Vary: Origin`. Returns whether the origin was one.
 */
export function allowCrossOrigin(policy: OriginPolicy, req: IncomingMessage, res: ServerResponse): boolean {
  res.setHeader('Vary', 'Origin');
  const origin = req.headers.origin;
  if (typeof origin !== 'string' || origin === 'null' || !policy.isListed(origin)) return false;
  res.setHeader('Access-Control-Allow-Origin', origin);
  res.setHeader('Access-Control-Allow-Credentials', 'true');
  // A refused upload's `Retry-After` (429, 503, 507): a browser hides it from a cross-origin page unless it is exposed.
  res.setHeader('Access-Control-Expose-Headers', 'Retry-After');
  return true;
}

/**
 * Approves the CORS preflight of a frontend on a listed origin for a `POST` with the given custom request headers
 * (answers 204), and returns true; returns false, having answered nothing, for any other origin.
 */
export function approvePreflight(policy: OriginPolicy, req: IncomingMessage, res: ServerResponse, allowedHeaders: string): boolean {
  if (!allowCrossOrigin(policy, req, res)) return false;
  res.setHeader('Access-Control-Allow-Methods', 'POST');
  res.setHeader('Access-Control-Allow-Headers', allowedHeaders);
  res.setHeader('Access-Control-Max-Age', '600');
  res.statusCode = 204;
  res.end();
  return true;
}

/**
 * Answers an `OPTIONS` request that needs no CORS approval with `204` and `Allow: <allow>`, and returns true; returns
 * false, having answered nothing, for a preflight from an origin `policy` refuses. Such a request either carries no
 * `Origin` (browsers send one with every CORS preflight, so it is an HTTP client asking which methods the route takes)
 * or comes from the app's own origin (browsers never preflight a same-origin request): both were answered 403
 * "Requests from this origin are not allowed here", about an origin never refused. Nothing is approved for them (no
 * CORS headers), and `Vary: Origin` keeps a cache from giving the answer to a preflight.
 */
export function answerPlainOptions(policy: OriginPolicy, req: IncomingMessage, res: ServerResponse, allow: string): boolean {
  if (req.headers.origin !== undefined && !policy.check(req).allowed) return false;
  res.setHeader('Vary', 'Origin');
  res.setHeader('Allow', allow);
  res.setHeader('Cache-Control', 'no-store');
  res.statusCode = 204;
  res.end();
  return true;
}
