/** Spaces and tabs around a name or value: the only ones the `cookie` package (express-session's parser) strips. */
function trimBlanks(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, '');
}

/**
 * Parses a `Cookie` request header into name → value (first occurrence wins, values URI-decoded), reading it as the
 * `cookie` package that express-session uses does: fast auth must find the session id express-session would. (With
 * JavaScript's `trim()`, `\u00a0connect.sid=A; connect.sid=B` was A here and B there; a cookie named `constructor`
 * was skipped as if already read.)
 */
export function parseCookieHeader(header: string | undefined): Record<string, string> {
  const cookies: Record<string, string> = {};
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index < 0) continue;
    const name = trimBlanks(part.slice(0, index));
    if (!name || Object.hasOwn(cookies, name)) continue;
    let value = trimBlanks(part.slice(index + 1));
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
 * How many characters of cookie headers it remembers in all. The client writes the header (up to the server's
 * 16 KiB header limit): a thousand made-up 12 KB headers, each kept as the key and again parsed, held 25 MB for
 * good. A thousand ordinary ones (a session cookie and a few others) stay well within it.
 */
export const PARSED_COOKIE_CHARS_MAX = 500_000;
/** Characters of the headers in {@link parsedHeaders}. */
let parsedChars = 0;

/**
 * {@link parseCookieHeader} memoised per header string, for the bridge: a socket presents the same cookie
 * header on every event, so it is parsed once. The result is shared and frozen: copy it before handing it
 * to code that may change it. At most {@link PARSED_COOKIE_HEADERS_MAX} headers and
 * {@link PARSED_COOKIE_CHARS_MAX} characters are kept, oldest dropped first.
 */
export function parseCookieHeaderShared(header: string | undefined): Readonly<Record<string, string>> {
  if (!header) return EMPTY_COOKIES;
  let parsed = parsedHeaders.get(header);
  if (!parsed) {
    parsed = Object.freeze(parseCookieHeader(header));
    parsedChars += header.length;
    parsedHeaders.set(header, parsed);
    while (parsedHeaders.size > PARSED_COOKIE_HEADERS_MAX || parsedChars > PARSED_COOKIE_CHARS_MAX) {
      const oldest = parsedHeaders.keys().next().value!;
      parsedHeaders.delete(oldest);
      parsedChars -= oldest.length;
    }
  }
  return parsed;
}

/** How many headers, and characters of them, the memo of {@link parseCookieHeaderShared} holds (for tests). */
export function parsedCookieMemo(): { headers: number; chars: number } {
  return { headers: parsedHeaders.size, chars: parsedChars };
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
    if (index <= 0) continue;
    // A name sent twice (cookies set for two paths) keeps its first value: the one the cookie parsers (ours and
    // express-session's) read. Keeping the last, the socket presented another value than the browser after a login.
    const name = part.slice(0, index).trim();
    if (!jar.has(name)) jar.set(name, part.slice(index + 1).trim());
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
