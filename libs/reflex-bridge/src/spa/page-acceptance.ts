import Negotiator from 'negotiator';

/** A JSON media type as a client names it: `application/json`, `application/problem+json`, `application/vnd.x+json`. */
const JSON_TYPES = /application\/[\w.-]+\+json\b/gi;

/**
 * True when a request with this `Accept` field may be answered with the SPA's page (HTML): it accepts `text/html`
 * (by name, `text/*` or `*\/*`, with a q-value above 0) and does not prefer JSON to it. No field, or an empty one,
 * accepts anything (RFC 9110 §12.5.1).
 *
 * Read with `negotiator` (Express's own), so q-values count: `text/html;q=0` refuses HTML even beside `*\/*`, and
 * `application/json, *\/*;q=0.1` (a `fetch` library's default) prefers JSON. Where both are named with the same
 * q-value, the one listed first wins. Every `+json` type counts as `application/json`, so the comparison costs two
 * candidates whatever the field holds.
 */
export function acceptsPage(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  const negotiator = new Negotiator({ headers: { accept: accept.replace(JSON_TYPES, 'application/json') } });
  return negotiator.mediaType(['text/html', 'application/json']) === 'text/html';
}
