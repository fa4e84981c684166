import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { ModelChange } from '../model-change.js';

/** How many publishers a receiver remembers; the least recently heard from is forgotten first. */
const DEFAULT_MAX_PUBLISHERS = 10_000;

/**
 * How far behind the last sequence number seen from a publisher a change may be and still count as a duplicate
 * or a late arrival. A real publisher's changes arrive in order (a retried publish repeats the last number), so
 * one much further behind means the number remembered came from a forged or corrupt message: anyone who can
 * reach the engine can write to the channel (any Postgres role can NOTIFY), and a single message claiming a
 * publisher's id with a huge number would otherwise make every receiver drop all of that publisher's changes for
 * good. At most this many of its changes can be held back by one such message.
 */
export const STALE_WINDOW = 100;

/**
 * Stamps outgoing changes with this publisher's id and the next sequence number, and filters incoming ones:
 * a change is accepted only when its sequence number is above the last one seen from its publisher. That drops
 * duplicates (a publish retried after a lost connection reaches the engine twice) and never lets an older change
 * overtake a newer one from the same publisher. A jump in the sequence (changes lost while a connection was
 * down, or publishes that failed) is logged at debug level: the transport already warns about the outage itself.
 * A change far behind (see {@link STALE_WINDOW}) is accepted and restarts the count, so a forged sequence number
 * cannot silence a publisher.
 */
export class ChangeSequencer {
  /** This publisher's id: random per instance, so a restarted worker never collides with its former self. */
  readonly publisherId: string = randomUUID();
  private seq = 0;
  private readonly lastSeen = new Map<string, number>();
  private readonly logger = new Logger('ReflexBridge');
  private resyncWarned = false;

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
    if (last !== undefined && origin.seq <= last) {
      if (last - origin.seq < STALE_WINDOW) return false;
      const line =
        `Live change ${origin.seq} from publisher ${JSON.stringify(origin.publisher.slice(0, 64))} arrived far behind ${last}, the last one seen ` +
        'from it: one of the two was forged or corrupt (anyone who can reach the server can write to the channel). ' +
        'Accepted, and counting from it';
      if (this.resyncWarned) this.logger.debug(line);
      else this.logger.warn(`${line} (further ones are logged at debug level)`);
      this.resyncWarned = true;
    } else if (last !== undefined && origin.seq > last + 1) {
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
