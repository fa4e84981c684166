/**
 * Checkouts (`CartState.checkout`) allowed per client IP and minute. Each one that finds a filled cart writes an
 * order row for good: a script looping add + checkout made some 25 orders a second per socket, as far as the
 * connection budget let it; a shopper checks out a few times a day.
 */
export const CHECKOUT_LIMIT = { limit: 10, ttl: 60_000 } as const;
