import type { LoggerService } from '@nestjs/common';

/** The first pause before a refused subscription is sent again; it doubles each time. */
const RESUBSCRIBE_FIRST_MS = 1_000;

/** The longest pause between two attempts to subscribe. */
export const RESUBSCRIBE_MAX_MS = 30_000;

/** One pub/sub subscription that {@link subscribeUntilAccepted} asks for until Redis accepts it. */
export interface WantedSubscription {
  /** Sends the subscription once; rejects when Redis refuses it. */
  subscribe: () => Promise<unknown>;
  /** True once nobody needs it any more (the connections or their user closed): asking stops. */
  isClosed: () => boolean;
  logger: LoggerService;
  /** What its messages are, for the log: `resync messages`. */
  what: string;
  /** The channel, as an ACL names it (`&<channel>` allows it): `rx:resync`, or a pattern such as `rx:state:v2:owner:*`. */
  aclChannel: string;
  /** What goes wrong while it is refused, one sentence: `tabs on this worker that miss a broadcast stay stale …`. */
  meanwhile: string;
  /** What works again once it is made, one sentence. */
  restored: string;
}

/**
 * Subscribes, again and again while Redis refuses it (an ACL without the channel, fixed by the operator later, or any
 * other error reply), after 1 s, doubling up to every {@link RESUBSCRIBE_MAX_MS}. node-redis re-subscribes after a
 * reconnection only the channels Redis accepted, so a subscription refused once was never made, for as long as the
 * process ran. The first refusal is a warning naming the ACL fix, later ones debug lines, the success after them a log
 * line. Resolves `true` once subscribed, `false` when closed first.
 */
export async function subscribeUntilAccepted(wanted: WantedSubscription): Promise<boolean> {
  const { logger, what } = wanted;
  // A loop, not a call per attempt: a refusal that lasts (an ACL nobody fixes) keeps no chain of pending promises.
  for (let refused = 0; !wanted.isClosed(); refused++) {
    try {
      await wanted.subscribe();
      if (refused > 0) logger.log(`Subscribed to ${what} ("${wanted.aclChannel}") after ${refused} refused attempt(s); ${wanted.restored}`);
      return true;
    } catch (error) {
      if (wanted.isClosed()) return false;
      const delayMs = Math.min(RESUBSCRIBE_MAX_MS, RESUBSCRIBE_FIRST_MS * 2 ** Math.min(refused, 16));
      const reason = (error as Error)?.message ?? String(error);
      if (refused === 0) {
        logger.warn(
          `Could not subscribe to ${what} ("${wanted.aclChannel}": ${reason}); ${wanted.meanwhile} ` +
            `Trying again (every ${RESUBSCRIBE_MAX_MS / 1000} s at most); if Redis refuses it by an ACL, allow the channel (&${wanted.aclChannel}).`,
        );
      } else {
        logger.debug?.(`Subscribing to ${what} refused again (${reason}); trying again in ${delayMs} ms.`);
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
    }
  }
  return false;
}
