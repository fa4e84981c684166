import type { RouterData } from '../protocol/inbound-event.js';

/**
 * The root `router` var sent to the client, in Reflex's shape (a subset). The `cookie` header is left out
 * on purpose: the session cookie is HttpOnly and must never reach page scripts through state.
 */
export function buildRouterVar(routerData: RouterData): Record<string, unknown> {
  const headers = routerData.headers;
  const path = typeof routerData.pathname === 'string' ? routerData.pathname : '/';
  const rawPath = typeof routerData.asPath === 'string' ? routerData.asPath : path;
  return {
    session: { client_token: routerData.token, client_ip: routerData.ip, session_id: routerData.sid },
    headers: {
      host: headers.host ?? '',
      origin: headers.origin ?? '',
      user_agent: headers['user-agent'] ?? '',
      accept_language: headers['accept-language'] ?? '',
    },
    page: { host: headers.host ?? '', path, raw_path: rawPath, full_path: path, params: routerData.query ?? {} },
  };
}
