import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { LiveTransport } from '../live-transport.js';
import { LiveTransportError } from '../live-transport.error.js';
import { ModelChange } from '../model-change.js';
import { ChangeSequencer } from './change-sequencer.js';
import { knownOptions } from '../../common/connection-options.js';

/** Options of {@link InProcessTransport}. */
export interface InProcessTransportOptions {
  /**
   * Transports created with the same channel name in this process deliver to each other, which simulates
   * several workers inside one process (tests, benchmarks).
   * @default a channel private to the instance
   */
  channel?: string;
}

/** The keys of {@link InProcessTransportOptions}: any other is refused. */
const IN_PROCESS_TRANSPORT_OPTIONS: readonly (keyof InProcessTransportOptions)[] = ['channel'];

type Listener = (change: ModelChange) => void;

// Module-level so that transports sharing a channel name find each other without any wiring.
const channels = new Map<string, Set<Listener>>();

/**
 * The default transport: one process, no server. `publish` calls every started transport of the same channel
 * synchronously, so when it resolves the change has been delivered everywhere it is going to be.
 * @publicApi
 */
export class InProcessTransport extends LiveTransport {
  /** The channel name (random unless given). */
  readonly channel: string;
  private listener?: Listener;
  private closed = false;
  private readonly logger = new Logger('ReflexBridge');
  private readonly sequencer = new ChangeSequencer();

  /** @param options see {@link InProcessTransportOptions}. */
  constructor(options: InProcessTransportOptions = {}) {
    super();
    knownOptions('InProcessTransport', options, IN_PROCESS_TRANSPORT_OPTIONS);
    this.channel = options.channel ?? `in-process:${randomUUID()}`;
  }

  /** Joins the channel. */
  override async start(onChange: (change: ModelChange) => void): Promise<void> {
    if (this.closed) throw new LiveTransportError('closed', 'InProcessTransport: start() after close()');
    if (this.listener) throw new Error('InProcessTransport: start() was already called');
    this.listener = (change) => {
      // One failing consumer must not keep the change from the other transports on the channel.
      try {
        onChange(change);
      } catch (error) {
        this.logger.error(`Live change handler failed: ${(error as Error)?.stack ?? String(error)}`);
      }
    };
    let members = channels.get(this.channel);
    if (!members) channels.set(this.channel, (members = new Set()));
    members.add(this.listener);
  }

  /** Delivers `change` to every started transport on the channel, this one included, before resolving. */
  override async publish(change: ModelChange): Promise<void> {
    if (this.closed) throw new LiveTransportError('closed', 'InProcessTransport: publish() after close()');
    if (!this.listener) throw new LiveTransportError('not_started', 'InProcessTransport: publish() before start()');
    // A copy of the member list: a listener that closes its transport while being called must not disturb
    // the iteration.
    // Stamped like on the networked transports, so consumers see the same shape whichever transport runs.
    // Through JSON, as the networked transports send it: subscribers get the same values whichever transport runs
    // (a Date as its ISO text, not a Date here and a string on Redis), never the publisher's own objects (which it may
    // change after publishing, under every subscriber's saved state), and a BigInt or a cycle is refused here, at
    // publish, with JSON's TypeError, rather than failing in every subscriber's state.
    const stamped = ModelChange.fromJSON(JSON.parse(JSON.stringify(this.sequencer.stampIfMissing(change))));
    for (const listener of [...(channels.get(this.channel) ?? [])]) listener(stamped);
  }

  /** Leaves the channel. */
  override async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const members = channels.get(this.channel);
    if (members && this.listener) {
      members.delete(this.listener);
      if (members.size === 0) channels.delete(this.channel);
    }
    this.listener = undefined;
  }
}
