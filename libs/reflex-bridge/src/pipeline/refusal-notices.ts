import type { EventClient } from '../common/event-client.js';
import { sinceStartMs } from '../common/since-start-clock.js';

/**
 * The least time between two refusals shown to one connection's user when a flood of them is shown once (the
 * connection's budget, `busy`, the refusals of a socket waiting for admission or not reading): about how long a toast
 * stays on screen (Reflex's toaster, sonner, keeps one 4 s by default). The refusals in between get the structured
 * `bridge_error` alone.
 *
 * Why: a Reflex page has no listener for `bridge_error`; it only runs what the presenter sends. With the first
 * refusal of an episode shown and no other, a click refused after that toast faded, later in the same window (after
 * an unthrottled `on_mouse_move` used up the budget, up to 10 s by default), silently did nothing.
 */
export const REFUSAL_NOTICE_EVERY_MS = 4_000;


/**
 * Whether to show `client`'s user an error: always when `shown` (an error shown each time, or the first refusal of an
 * episode), else (a refusal of a flood past its first) only when nothing was shown to that user in the last
 * {@link REFUSAL_NOTICE_EVERY_MS}. Records the notice when it returns true. Reads the clock and allocates nothing: it
 * runs for every refused frame of a flood.
 */
export function refusalNoticeDue(client: EventClient, shown: boolean): boolean {
  // Small integers, kept inside the client object (see sinceStartMs).
  const now = sinceStartMs();
  const shownAt = client.refusalShownAt;
  if (!shown && shownAt !== undefined && now - shownAt < REFUSAL_NOTICE_EVERY_MS) return false;
  client.refusalShownAt = now;
  return true;
}
