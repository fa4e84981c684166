import type { ServerResponse } from 'node:http';

/**
 * Makes `res` go out `Cache-Control: no-store` if it turns out to be an error (status 400 or more) that set no
 * `Cache-Control` of its own, decided when its head is written, as `on-headers` does: whoever answers it (the SPA's
 * fallback, Nest's 404 for a route nobody has, a route the app registered later) is not known when this is called,
 * and a success must keep its own caching.
 *
 * Nest's error answers carry no `Cache-Control`, and shared caches keep such a 404 (Cloudflare for 3 minutes, for a
 * `.js` or `.css` path): in a rolling deploy, a new page's bundle asked of a worker still on the old build would stay
 * missing for every visitor after the deploy finished.
 */
export function errorAnswersUncached(res: ServerResponse): void {
  const writeHead = res.writeHead as (this: ServerResponse, ...args: unknown[]) => ServerResponse;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]): ServerResponse {
    const status = typeof args[0] === 'number' ? args[0] : this.statusCode;
    if (status >= 400 && !this.hasHeader('Cache-Control')) this.setHeader('Cache-Control', 'no-store');
    return writeHead.apply(this, args);
  } as ServerResponse['writeHead'];
}
