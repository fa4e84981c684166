import type { ConnectionError } from '@reflex-bridge/client';

/**
 * What the header's notice tells a shopper about a connection problem. For clicks that may not have run
 * (`events_unconfirmed`): plain words and how many, since the error's own message lists the events' wire names
 * (`reflex___state____state.cart_state.add`), which mean nothing to a shopper. Otherwise the client's message.
 */
export function connectionNoticeText(error: ConnectionError): string {
  if (error.kind !== 'events_unconfirmed') return error.message;
  const count = (error.data as { count?: unknown } | undefined)?.count;
  const what = typeof count === 'number' && count > 1 ? `Your last ${count} actions` : 'Your last action';
  return `${what} may not have gone through: the connection was lost before the shop answered. Check the page, and try again if needed.`;
}
