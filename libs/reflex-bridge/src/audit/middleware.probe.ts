import { randomBytes } from 'node:crypto';
import type { RequestHandler } from 'express';
import { SyntheticRequest } from '../bridge/request/synthetic-request.js';
import { SyntheticResponse } from '../bridge/request/synthetic-response.js';
import { COMMON_SESSION_SECRETS, signedSessionCookie } from './session-secret.check.js';

/** How long one probe waits for a middleware to call `next` (a session store lookup). */
const PROBE_TIMEOUT_MS = 2000;

/** What running the app's session middleware on probe requests showed. */
export interface SessionProbe {
  /** The cookie a new session gets, as the middleware configured it (`secure: 'auto'` resolved for an HTTPS request). */
  cookie: { secure: boolean; httpOnly: boolean; sameSite: string | boolean | undefined };
  /** The constructor name of the session store (`MemoryStore` for express-session's default). */
  storeName: string | undefined;
  /** The session cookie's name, as the middleware asked for it. */
  cookieName: string | undefined;
  /** A well-known secret the middleware accepted a cookie signed with, if any. */
  acceptedCommonSecret: string | undefined;
  /** The positions, in the secrets given to check, of those the middleware does not accept (see {@link probeSessionMiddleware}). */
  refusedSecrets: number[];
}

/**
 * A session middleware that failed a new request (called `next` with an error): express-session without a
 * `secret` (`session({ secret: process.env.SESSION_SECRET })` with the variable unset) starts, then fails every
 * request with "secret option required for sessions", so its cookie and secret cannot be read either.
 */
export interface SessionProbeFailure {
  /** The error's message, cut short. */
  failure: string;
}

/** Longest part of a probe's error message kept in a finding. */
const MAX_FAILURE_CHARS = 200;

/** A request the middleware sees as HTTPS, with these extra headers. */
function probeRequest(headers: Record<string, string> = {}): SyntheticRequest {
  return new SyntheticRequest({ path: '/', query: {}, headers: { host: 'localhost', ...headers }, ip: '127.0.0.1', remoteAddress: '127.0.0.1', secure: true });
}

/**
 * A probe request without cookies whose `req.cookies` notes the first name read: express-session looks there
 * (cookie-parser's place) when the Cookie header has nothing for it, which reveals its cookie's name.
 */
function namingRequest(): { request: SyntheticRequest; askedName: () => string | undefined } {
  const request = probeRequest();
  let asked: string | undefined;
  const cookies = new Proxy({} as Record<string, string>, {
    get: (_target, key) => {
      if (typeof key === 'string') asked ??= key;
      return undefined;
    },
  });
  Object.defineProperty(request, 'cookies', { value: cookies });
  return { request, askedName: () => asked };
}

/**
 * Calls `middleware` once; resolves when it called `next` (or after a deadline), with what was true right after
 * the synchronous call (`sessionIdAtReturn`) and the first session id the middleware gave the request
 * (`firstSessionId`: express-session's is the one its cookie names, when the signature verified). The response is
 * never ended, so a session middleware saves nothing.
 */
async function callOnce(
  middleware: RequestHandler,
  request: SyntheticRequest,
  response: SyntheticResponse,
): Promise<{ sessionIdAtReturn: string | undefined; firstSessionId: string | undefined; failed: boolean; error: unknown }> {
  // The first id assigned is the cookie's, before the store is asked: a store answering synchronously that has no
  // such session makes the middleware generate a new one before it returns, which would hide the match.
  let firstSessionId: string | undefined;
  let assigned = false;
  let current: string | undefined;
  Object.defineProperty(request, 'sessionID', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (value: string | undefined) => {
      if (!assigned) {
        assigned = true;
        firstSessionId = value;
      }
      current = value;
    },
  });
  let failed = false;
  let failure: unknown;
  let timer: NodeJS.Timeout | undefined;
  const called = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, PROBE_TIMEOUT_MS);
    timer.unref();
    const next = (error?: unknown) => {
      if (error) {
        failed = true;
        failure ??= error;
      }
      resolve();
    };
    try {
      const result = (middleware as unknown as (req: unknown, res: unknown, next: unknown) => unknown)(request, response, next);
      if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).then(undefined, next);
    } catch (error) {
      next(error ?? new Error('threw'));
    }
  });
  const sessionIdAtReturn = request.sessionID;
  await called;
  clearTimeout(timer);
  return { sessionIdAtReturn, firstSessionId, failed, error: failure };
}

/**
 * Runs `middleware` on probe requests and, when it behaves as express-session does (it sets `req.sessionStore` and
 * gives the request a session with a cookie), reports the session cookie's flags, the store, whether it accepts
 * a cookie signed with one of {@link COMMON_SESSION_SECRETS}, and which of `secretsToCheck` (fast auth's secrets) it
 * does not accept. A {@link SessionProbeFailure} when the middleware fails a new request (it calls `next` with an
 * error). Undefined for any other middleware.
 *
 * The secret cannot be read from the middleware, so each secret signs a random session id: the middleware gives the
 * request that id (and looks it up in the store) only when the signature verifies, which shows in the first session
 * id it assigns, before the store answers. Nothing is saved: the responses are never ended.
 */
export async function probeSessionMiddleware(middleware: RequestHandler, secretsToCheck: readonly string[] = []): Promise<SessionProbe | SessionProbeFailure | undefined> {
  const first = namingRequest();
  const outcome = await callOnce(middleware, first.request, new SyntheticResponse());
  if (outcome.failed) {
    const error = outcome.error;
    const message = error instanceof Error ? error.message : typeof error === 'string' ? error : 'an error that is not an Error';
    return { failure: message.slice(0, MAX_FAILURE_CHARS) };
  }
  const store = first.request.sessionStore as { constructor?: { name?: string } } | undefined;
  const cookie = (first.request.session as { cookie?: { secure?: unknown; httpOnly?: unknown; sameSite?: unknown } } | undefined)?.cookie;
  if (outcome.failed || !store || !cookie) return undefined;
  const cookieName = first.askedName();
  const accepts = async (secret: string): Promise<boolean> => {
    const sessionId = randomBytes(24).toString('base64url');
    const request = probeRequest({ cookie: `${cookieName}=${encodeURIComponent(signedSessionCookie(sessionId, secret))}` });
    const { sessionIdAtReturn, firstSessionId } = await callOnce(middleware, request, new SyntheticResponse());
    return sessionIdAtReturn === sessionId || firstSessionId === sessionId;
  };
  let acceptedCommonSecret: string | undefined;
  for (const secret of cookieName === undefined ? [] : COMMON_SESSION_SECRETS) {
    if (await accepts(secret)) {
      acceptedCommonSecret = secret;
      break;
    }
  }
  const refusedSecrets: number[] = [];
  if (cookieName !== undefined) {
    for (const [index, secret] of secretsToCheck.entries()) if (!(await accepts(secret))) refusedSecrets.push(index);
  }
  return {
    cookie: { secure: cookie.secure === true, httpOnly: cookie.httpOnly === true, sameSite: cookie.sameSite as string | boolean | undefined },
    storeName: store.constructor?.name,
    cookieName,
    acceptedCommonSecret,
    refusedSecrets,
  };
}

/** The origin the CORS probe presents: never a real site. */
export const PROBE_ORIGIN = 'https://audit-probe.invalid';

/**
 * Runs a CORS middleware (the `cors` package, as `app.enableCors()` installs it) on a request from an origin nobody
 * listed, and reports whether it allowed that origin (`*` or echoed) with credentials.
 */
export async function probeCorsMiddleware(middleware: RequestHandler): Promise<{ allowOrigin: string; credentials: boolean } | undefined> {
  const request = probeRequest({ origin: PROBE_ORIGIN });
  const response = new SyntheticResponse();
  await callOnce(middleware, request, response);
  const allowOrigin = response.getHeader('access-control-allow-origin');
  if (allowOrigin !== '*' && allowOrigin !== PROBE_ORIGIN) return undefined;
  return { allowOrigin, credentials: String(response.getHeader('access-control-allow-credentials')) === 'true' };
}
