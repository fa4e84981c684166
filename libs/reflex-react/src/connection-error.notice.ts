import { ConnectionError } from '@reflex-bridge/client';

/** Most event names a merged `events_unconfirmed` notice lists (the client's own report lists as many). */
const MAX_LISTED = 100;

/** The `{ events, count }` of an `events_unconfirmed` report, read defensively (its `data` is typed `unknown`). */
function unconfirmedOf(error: ConnectionError): { events: string[]; count: number } {
  const data = error.data as { events?: unknown; count?: unknown } | undefined;
  const events = Array.isArray(data?.events) ? data.events.filter((name): name is string => typeof name === 'string') : [];
  const count = typeof data?.count === 'number' && data.count >= events.length ? data.count : events.length;
  return { events, count };
}

/**
 * The connection error to show once `incoming` is reported while `current` is shown. An `events_unconfirmed` report
 * (the user's clicks that may not have run) needs the user's attention: a later problem of another kind (the failed
 * attempts and timeouts of the reconnection that follows at once) does not replace it, or the user would never see
 * it; a later `events_unconfirmed` is added to it, so neither set of clicks goes unmentioned. Anything else is
 * replaced by the newer problem, as before.
 */
export function nextConnectionError(current: ConnectionError | undefined, incoming: ConnectionError): ConnectionError {
  if (current?.kind !== 'events_unconfirmed') return incoming;
  if (incoming.kind !== 'events_unconfirmed') return current;
  const first = unconfirmedOf(current);
  const second = unconfirmedOf(incoming);
  const events = [...first.events, ...second.events].slice(0, MAX_LISTED);
  const count = first.count + second.count;
  const listed = events.map((name) => `"${name.slice(0, 200)}"`).join(', ');
  const more = count > events.length ? ` and ${count - events.length} more` : '';
  const message = `${count} event${count === 1 ? '' : 's'} sent before connections were lost may not have run (the server had not answered since): ${listed}${more}.`;
  return new ConnectionError('events_unconfirmed', message, { data: { events, count } });
}
