import type { HttpException } from '@nestjs/common';
import { BridgeError, type BridgeErrorCode } from '../protocol/bridge-error.js';
import type { SyntheticResponse } from './request/synthetic-response.js';

/**
 * How HTTP answers become client errors: a middleware's or exception filter's answer on the synthetic
 * response, an `HttpException`, or a guard's refusal, each become a structured `bridge_error`.
 */

/** The error code clients get for an HTTP status a guard, filter, middleware or HttpException produced. */
export function codeForStatus(status: number): BridgeErrorCode {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 400 || status === 422) return 'invalid_payload';
  // An app's own rate limit (a global ThrottlerGuard, express-rate-limit as auth middleware): the client handles it
  // as it handles the bridge's own limits.
  if (status === 429) return 'rate_limited';
  return 'handler_error';
}

/**
 * For a 429 answer, the wait its `Retry-After` header says, in milliseconds (seconds on the wire; `@nestjs/throttler`
 * names it `Retry-After-<throttler>` for a named limit): the longest of them, or undefined without one.
 */
function retryAfterMsOf(status: number, response: SyntheticResponse | undefined): number | undefined {
  if (status !== 429 || !response) return undefined;
  let longest: number | undefined;
  for (const [name, value] of Object.entries(response.getHeaders())) {
    if (name !== 'retry-after' && !name.startsWith('retry-after-')) continue;
    const seconds = Number(Array.isArray(value) ? value[0] : value);
    if (Number.isFinite(seconds) && seconds >= 0 && (longest === undefined || seconds * 1000 > longest)) longest = Math.ceil(seconds * 1000);
  }
  return longest;
}

/** The structured error for an answer on the response: its status, and a string body or a JSON body's `message`. */
export function errorFromResponse(response: SyntheticResponse, fallback: string): BridgeError {
  const body = response.body;
  let message = fallback;
  if (typeof body === 'string' && body.length > 0 && body.length < 500) message = body;
  else if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') message = (body as { message: string }).message;
  const status = response.statusCode;
  return new BridgeError(codeForStatus(status), message, undefined, status, retryAfterMsOf(status, response));
}

/** The structured error for an `HttpException` thrown on the `full` tier or by a pipe (`response`: the event's, for a 429's wait). */
export function errorFromHttpException(error: HttpException, response?: SyntheticResponse): BridgeError {
  const status = error.getStatus();
  return new BridgeError(codeForStatus(status), error.message, undefined, status, retryAfterMsOf(status, response));
}

/** The path a response redirects to: its `Location` when its status is one of `redirectStatuses`, else undefined. */
export function redirectTarget(response: SyntheticResponse, redirectStatuses: readonly number[]): string | undefined {
  const location = response.getHeader('location');
  if (typeof location === 'string' && redirectStatuses.includes(response.statusCode)) return location;
  return undefined;
}

/**
 * The error for a tier guard that answered `false`: what it answered on the response when it did (a status of
 * 400 or more), else `forbidden` (403), as Nest answers a guard returning false.
 */
export function errorForRefusal(response: SyntheticResponse | undefined): BridgeError {
  if (response?.finished && response.statusCode >= 400) return errorFromResponse(response, 'The event was refused.');
  return new BridgeError('forbidden', 'A bridge tier guard refused the event.', undefined, 403);
}
