import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { ModelChange } from '../model-change.js';

/** How many publishers a receiver remembers; the least recently heard from is forgotten first. */
const DEFAULT_MAX_PUBLISHERS = 10_000;

/**
 * Stamps outgoing changes with this publisher's id and the next sequence number, and filters incoming ones:
 * a change is accepted only when its sequence number is above the last one seen from its publisher. That drops
 * duplicates (a publish retried after a lost connection reaches the engine twice) and never lets an older change
 * overtake a newer one from the same publisher. A jump in the sequence (changes lost while a connection was
 * down, or publishes that failed) is logged at debug level: the transport already warns about the outage itself.
 */
export class ChangeSequencer {
  /** This publisher's id: random per instance, so a restarted worker never collides with its former self. */
  readonly publisherId: string = randomUUID();
  private seq = 0;
  private readonly lastSeen = new Map<string, number>();
  private readonly logger = new Logger('ReflexBridge');

  /** @param maxPublishers bound on remembered publishers, so long-running workers do not grow without limit. */
  constructor(private readonly maxPublishers = DEFAULT_MAX_PUBLISHERS) {}

  /** A copy of `change` stamped with this publisher's id and its next sequence number. */
  stamp(change: ModelChange): ModelChange {
    this.seq += 1;
    return change.withOrigin({ publisher: this.publisherId, seq: this.seq });
  }

  /** `change` itself when it already carries an origin, otherwise {@link stamp}ed. */
  stampIfMissing(change: ModelChange): ModelChange {
    return change.origin ? change : this.stamp(change);
  }

  /**
   * Whether a received change should be delivered. Changes without an origin (written to the channel by
   * something other than a ReflexBridge transport) cannot be checked and are accepted.
   */
  accept(change: ModelChange): boolean {
    const origin = change.origin;
    if (!origin) return true;
    const last = this.lastSeen.get(origin.publisher);
    if (last !== undefined && origin.seq <= last) return false;
    if (last !== undefined && origin.seq > last + 1) {
      this.logger.debug(
        `Live changes ${last + 1}..${origin.seq - 1} from publisher ${origin.publisher} never arrived ` +
          '(lost during a disconnect, or their publish failed)',
      );
    }
    // Delete then set moves the publisher to the end of the Map's insertion order, making the first key the
    // least recently heard from: the one to forget when the bound is reached.
    this.lastSeen.delete(origin.publisher);
    this.lastSeen.set(origin.publisher, origin.seq);
    if (this.lastSeen.size > this.maxPublishers) {
      const oldest = this.lastSeen.keys().next().value;
      if (oldest !== undefined) this.lastSeen.delete(oldest);
    }
    return true;
  }
}
