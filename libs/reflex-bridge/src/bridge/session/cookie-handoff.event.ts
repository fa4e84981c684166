import { callFunction, type ClientEvent } from '../../protocol/client-event.js';
import { jsString } from '../../protocol/js-literal.js';
import { CLIENT_TOKEN_HEADER, HANDOFF_SECRET_HEADER } from './cookie-handoff.route.js';

/**
 * Payload key of the `_call_function` event that carries a session cookie handoff: `{ url, secret }`, read by
 * `@reflex-bridge/client` (which redeems it itself instead of evaluating the function). @publicApi
 */
export const SESSION_COOKIE_PAYLOAD_KEY = 'bridge_session_cookie';

/** A `Host` value that is a host name or IP address with an optional port, and nothing else. */
const HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** Where the browser reached the server, read from the socket's handshake headers. */
export interface HandoffOrigin {
  /** The handshake's `Host` (with a trusted proxy, its last `X-Forwarded-Host`). */
  host: string | undefined;
  /** `https` when a trusted proxy said so; otherwise the page's own scheme is used. */
  scheme: 'http' | 'https' | undefined;
}

/**
 * The URL the browser POSTs to. A Reflex frontend may be served from another origin than this server (Reflex's
 * development server, a CDN), so the URL names the host the browser opened the socket on. Without a scheme
 * (`//host/path`) it takes the page's, which matches the socket's in every setup a browser allows (an HTTPS page
 * can only open `wss:`).
 */
export function handoffUrl(path: string, origin: HandoffOrigin): string {
  if (!origin.host || !HOST.test(origin.host)) return path;
  return `${origin.scheme ? `${origin.scheme}:` : ''}//${origin.host}${path}`;
}

/**
 * The client event that hands a changed session cookie to the browser: a `_call_function` Reflex's client runs,
 * whose function POSTs to the single-use URL with credentials (so the answer's `Set-Cookie` is stored, HttpOnly)
 * and the two proofs: the secret (in the source: it reached only this tab's socket) and the tab's client token,
 * read where Reflex's client keeps it (`sessionStorage["token"]`, updated on `new_token`). Every value is
 * encoded as a string literal. The same `{url, secret}` is in `payload.bridge_session_cookie` for our client.
 */
export function cookieHandoffEvent(path: string, secret: string, origin: HandoffOrigin): ClientEvent {
  const url = handoffUrl(path, origin);
  const failed = jsString('Session cookie handoff failed:');
  const source =
    `(() => fetch(new URL(${jsString(url)}, window.location.href), { method: "POST", credentials: "include", ` +
    `headers: { ${jsString(HANDOFF_SECRET_HEADER)}: ${jsString(secret)}, ${jsString(CLIENT_TOKEN_HEADER)}: String(window.sessionStorage.getItem("token")) } })` +
    `.then((response) => { if (!response.ok) console.error(${failed}, response.status); }, (error) => console.error(${failed}, error)))`;
  const event = callFunction(source);
  event.payload[SESSION_COOKIE_PAYLOAD_KEY] = { url: path, secret };
  return event;
}
