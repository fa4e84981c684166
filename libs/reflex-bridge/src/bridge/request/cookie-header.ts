/** Parses a `Cookie` request header into name → value (first occurrence wins, values URI-decoded). */
export function parseCookieHeader(header: string | undefined): Record<string, string> {
  const cookies: Record<string, string> = {};
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index < 0) continue;
    const name = part.slice(0, index).trim();
    if (!name || name in cookies) continue;
    let value = part.slice(index + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      cookies[name] = decodeURIComponent(value);
    } catch {
      cookies[name] = value;
    }
  }
  return cookies;
}

/** Parsed `Cookie` headers by header string, oldest first (see {@link parseCookieHeaderShared}). */
const parsedHeaders = new Map<string, Readonly<Record<string, string>>>();
/** How many distinct cookie headers {@link parseCookieHeaderShared} remembers. */
export const PARSED_COOKIE_HEADERS_MAX = 1_000;

/**
 * {@link parseCookieHeader} memoised per header string, for the bridge: a socket presents the same cookie
 * header on every event, so it is parsed once. The result is shared and frozen: copy it before handing it
 * to code that may change it. At most {@link PARSED_COOKIE_HEADERS_MAX} headers are kept, oldest dropped first.
 */
export function parseCookieHeaderShared(header: string | undefined): Readonly<Record<string, string>> {
  if (!header) return EMPTY_COOKIES;
  let parsed = parsedHeaders.get(header);
  if (!parsed) {
    parsed = Object.freeze(parseCookieHeader(header));
    if (parsedHeaders.size >= PARSED_COOKIE_HEADERS_MAX) parsedHeaders.delete(parsedHeaders.keys().next().value!);
    parsedHeaders.set(header, parsed);
  }
  return parsed;
}

const EMPTY_COOKIES: Readonly<Record<string, string>> = Object.freeze({});

/** The cookie names a list of `Set-Cookie` headers sets. */
export function cookieNames(setCookies: string[]): string[] {
  return setCookies.map((header) => header.slice(0, header.indexOf('=')).trim()).filter(Boolean);
}

/**
 * Applies `Set-Cookie` headers to a `Cookie` request header: new values replace old ones, and a cookie set
 * to expire (logout) is dropped. Attributes (Path, HttpOnly, ...) are not part of a request header.
 */
export function mergeSetCookies(cookieHeader: string, setCookies: string[]): string {
  const jar = new Map<string, string>();
  for (const part of cookieHeader.split(';')) {
    const index = part.indexOf('=');
    if (index > 0) jar.set(part.slice(0, index).trim(), part.slice(index + 1).trim());
  }
  for (const header of setCookies) {
    const [pair, ...attributes] = header.split(';');
    const index = pair.indexOf('=');
    if (index <= 0) continue;
    const name = pair.slice(0, index).trim();
    const expired = attributes.some((attribute) => {
      const [key, value = ''] = attribute.split('=');
      const lower = key.trim().toLowerCase();
      return (lower === 'max-age' && Number(value) <= 0) || (lower === 'expires' && Date.parse(value) < Date.now());
    });
    if (expired) jar.delete(name);
    else jar.set(name, pair.slice(index + 1).trim());
  }
  return [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
}
