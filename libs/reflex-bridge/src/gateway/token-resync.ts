import type { Logger } from '@nestjs/common';
import type { BroadcastDropWatcher, RedisConnections } from '../common/redis-connections.js';
import { isClientToken } from '../protocol/client-token.js';
import { subscribeUntilAccepted } from '../common/subscribe-until-accepted.js';

/** The channel of "resync these tokens" messages, which every worker hears. */
const RESYNC_CHANNEL = 'rx:resync';

/** The word of a resync message that stands for every tab of every worker. */
const EVERY_TAB = '*';

/**
 * Tokens whose broadcast was dropped that a worker remembers at most; past it, it forgets them and asks every worker
 * to resync all its tabs instead (as many store reads, paced, but no memory that grows with the outage).
 */
export const MAX_REMEMBERED_TOKENS = 10_000;

/** Tokens per resync message: 1,000 tokens of up to 128 characters stay well below a megabyte. */
const TOKENS_PER_MESSAGE = 1_000;

/** Tabs a worker resyncs at once: one store read each, so a return of the subscriber is no burst of reads. */
const RESYNC_CONCURRENCY = 8;

/** The token of an adapter channel aimed at one token's room (`<key>#<namespace>#rx:token:<token>#`). */
const TOKEN_CHANNEL = /#rx:token:([A-Za-z0-9_-]{8,128})#$/;

/** Publishes one resync message (a JSON array of tokens, or of {@link EVERY_TAB}) on the cluster's command connection. */
function publishResyncMessage(connections: RedisConnections, message: string): Promise<unknown> {
  return connections.isCluster ? connections.clusterCommands!.sPublish(RESYNC_CHANNEL, message) : connections.commands.publish(RESYNC_CHANNEL, message);
}

/**
 * Asks whichever worker holds `token`'s tab to send it its states as the store holds them: for a change committed by a
 * process that has no Socket.IO server (an application context, a worker running jobs), which has no adapter to
 * broadcast the change's delta on. Rejects when Redis refused the message.
 */
export function requestResync(connections: RedisConnections, token: string): Promise<unknown> {
  return publishResyncMessage(connections, JSON.stringify([token]));
}

/** What the gateway lends {@link TokenResync}: its tabs, and a way to send one its states as stored. */
export interface ResyncTarget {
  /** The tokens held by a socket on this worker. */
  tokens(): Iterable<string>;
  /** True when a socket on this worker holds `token`. */
  holds(token: string): boolean;
  /** Sends the tab holding `token` on this worker its states as the store holds them; never rejects. */
  resync(token: string): Promise<void>;
}

/**
 * Brings back in step the tabs that missed a change made on another worker. Such a change (a
 * `ReflexStateService.modify`, a live update) is committed to the state store, then reaches the tab's worker as a
 * Socket.IO adapter broadcast over Redis pub/sub, which delivers at most once: a broadcast the publishing worker
 * dropped (Redis down or not answering, `maxPendingPublishBytes`), or one the tab's worker did not hear (its subscriber
 * connection was cut off or went silent), left the tab showing old values until the value changed again, although
 * the store held the new ones.
 *
 * - The publishing worker remembers the tokens whose broadcast it dropped (at most {@link MAX_REMEMBERED_TOKENS});
 *   once a broadcast goes out again, it publishes them in one small message (per thousand), and the worker holding
 *   each token's socket sends that tab its states as stored.
 * - A worker whose subscriber connection is back cannot know what it missed: it does the same for every tab it
 *   holds, a few at a time.
 *
 * Nothing is done per event: only drops are remembered, and a broadcast that goes out costs one boolean check.
 */
export class TokenResync implements BroadcastDropWatcher {
  /** Tokens whose broadcast was dropped, not yet published in a resync message. */
  private readonly missed = new Set<string>();
  /** More than {@link MAX_REMEMBERED_TOKENS} were missed: every tab is resynced instead. */
  private missedTooMany = false;
  private flushing = false;
  /** Tabs of this worker waiting for their resync (at most one entry per tab held here). */
  private readonly due = new Set<string>();
  private draining = false;

  constructor(
    private readonly connections: RedisConnections,
    private readonly target: ResyncTarget,
    private readonly logger: Logger,
  ) {
    connections.watchBroadcastDrops(this);
    // The command connection was cut off too, as a rule, and may come back after the subscriber: the states are read
    // once it is ready (or has had `connectTimeoutMs` to be), not refused one by one meanwhile.
    connections.onSubscriberBack(() => {
      const resyncAll = () => this.schedule(target.tokens());
      connections.ready().then(resyncAll, resyncAll);
    });
    void this.subscribe();
  }

  /** Subscribes to {@link RESYNC_CHANNEL}, again while Redis refuses it (see {@link subscribeUntilAccepted}). */
  private async subscribe(): Promise<void> {
    const { connections } = this;
    await subscribeUntilAccepted({
      subscribe: () => (connections.isCluster ? connections.clusterSubscriber!.sSubscribe(RESYNC_CHANNEL, this.heard) : connections.subscriber.subscribe(RESYNC_CHANNEL, this.heard)),
      isClosed: () => connections.isClosed,
      logger: this.logger,
      what: 'resync messages',
      aclChannel: RESYNC_CHANNEL,
      meanwhile: 'tabs on this worker that miss a broadcast stay stale until their next change.',
      restored: 'tabs that miss a broadcast are brought back in step again.',
    });
  }

  /** @inheritDoc */
  get waiting(): boolean {
    return (this.missedTooMany || this.missed.size > 0) && !this.flushing;
  }

  /** @inheritDoc */
  dropped(channel: string): void {
    // Only a broadcast to one token's room carries a tab's state; the others (cluster-wide questions) are asked again.
    const token = TOKEN_CHANNEL.exec(channel)?.[1];
    if (token === undefined || this.missedTooMany) return;
    this.missed.add(token);
    if (this.missed.size > MAX_REMEMBERED_TOKENS) {
      this.missed.clear();
      this.missedTooMany = true;
    }
  }

  /** @inheritDoc */
  flowing(): void {
    void this.flush();
  }

  /** Publishes the remembered tokens; what could not be published stays for the next {@link flowing}. */
  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.missedTooMany || this.missed.size > 0) {
        const everyTab = this.missedTooMany;
        const tokens = everyTab ? [EVERY_TAB] : this.take(this.missed, TOKENS_PER_MESSAGE);
        if (everyTab) this.missedTooMany = false;
        try {
          await this.publish(JSON.stringify(tokens));
        } catch (error) {
          // Put back: Redis failed again, and the next broadcast that goes out (or its return) tries again.
          if (everyTab) this.missedTooMany = true;
          else for (const token of tokens) this.dropped(`#rx:token:${token}#`);
          this.logger.debug(`Could not publish a resync message: ${(error as Error)?.message ?? String(error)}`);
          return;
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private publish(message: string): Promise<unknown> {
    return publishResyncMessage(this.connections, message);
  }

  /** A resync message (from any worker, this one included): the tabs it names that this worker holds are resynced. */
  private readonly heard = (message: string): void => {
    let tokens: unknown;
    try {
      tokens = JSON.parse(message);
    } catch {
      return;
    }
    if (!Array.isArray(tokens)) return;
    if (tokens.includes(EVERY_TAB)) return this.schedule(this.target.tokens());
    this.schedule(tokens.filter((token): token is string => isClientToken(token) && this.target.holds(token)));
  };

  /** Resyncs `tokens`' tabs, {@link RESYNC_CONCURRENCY} at a time. */
  private schedule(tokens: Iterable<string>): void {
    for (const token of tokens) this.due.add(token);
    if (!this.draining) void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.due.size > 0 && !this.connections.isClosed) {
        await Promise.all(this.take(this.due, RESYNC_CONCURRENCY).map((token) => this.target.resync(token)));
      }
    } finally {
      this.draining = false;
    }
  }

  /** Removes and returns up to `count` entries of `set`, oldest first. */
  private take(set: Set<string>, count: number): string[] {
    const taken: string[] = [];
    for (const entry of set) {
      if (taken.length === count) break;
      taken.push(entry);
    }
    for (const entry of taken) set.delete(entry);
    return taken;
  }
}
