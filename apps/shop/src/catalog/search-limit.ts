/**
 * Filter events (`FilterState.setQuery`, `setCategory`, `setPage`) allowed per client IP and minute, each handler
 * with its own counter. Each one reads the database twice (a count and a page), and the web app's search box sends
 * one per pause in the typing (250 ms), so many people behind one address stay below this; a script gets 5 searches a second per
 * address, where the connection budget alone let it run 50 a second on each of its sockets.
 */
export const SEARCH_LIMIT = { limit: 300, ttl: 60_000 } as const;
