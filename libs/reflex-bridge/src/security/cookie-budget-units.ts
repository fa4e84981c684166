/**
 * Cookies of a connection's `Cookie` header per extra unit of its budget on each event. The app's session middleware
 * parses the whole header again for every event that runs it (express-session calls the `cookie` package on
 * `req.headers.cookie` each time): about 0.4 µs per cookie, so 250 cost about what a whole ordinary event does. A
 * client fills the 16 KiB a header may hold with some 2,700 one-letter cookies: about 1 ms of parsing per event,
 * seven times an event's own cost, for one event of its budget. Browsers of ordinary sites send tens of cookies.
 */
export const COOKIES_PER_BUDGET_UNIT = 250;

/**
 * The units of `rateLimit.perConnection` each event of a connection costs beyond its own, for a handshake that
 * presented `cookieHeader`: one per {@link COOKIES_PER_BUDGET_UNIT} cookies it holds (counted by their `;`
 * separators, as the `cookie` package splits them). 0 for every header under 250 cookies.
 */
export function cookieBudgetUnits(cookieHeader: string | undefined): number {
  if (cookieHeader === undefined || cookieHeader.length < COOKIES_PER_BUDGET_UNIT) return 0;
  let cookies = 1;
  for (let at = cookieHeader.indexOf(';'); at !== -1; at = cookieHeader.indexOf(';', at + 1)) cookies++;
  return Math.floor(cookies / COOKIES_PER_BUDGET_UNIT);
}
