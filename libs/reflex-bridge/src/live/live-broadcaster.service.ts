import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import type { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { LiveSink } from './live-sink.js';
import { LiveSubscription } from './live-subscription.js';
import { LiveTransport, type LiveTransportStatus } from './live-transport.js';
import { LiveTransportError } from './live-transport.error.js';
import { LIVE_OPTIONS, resolveLiveOptions } from './live.options.js';
import type { LiveOptions, ResolvedLiveOptions } from './live.options.js';
import { ModelChange } from './model-change.js';
import { RecentChanges } from './recent-changes.js';
import { ChangeSequencer } from './transports/change-sequencer.js';
import { InProcessTransport } from './transports/in-process.transport.js';

/** Options of one {@link LiveBroadcaster.subscribe} call. */
export interface LiveSubscribeOptions {
  /** Overrides `live.bufferSize` for this subscriber. */
  bufferSize?: number;
}

/**
 * How long this worker keeps the changes it received for a live list that subscribes late (see
 * {@link LiveBroadcaster.recentSince}): longer than a page takes from loading its list to subscribing.
 */
export const RECENT_CHANGES_MS = 30_000;

/**
 * How many received changes this worker keeps for late live lists over all labels (at least `live.bufferSize`):
 * labels are whatever arrives on the transport, so a writer inventing labels must not grow this without bound.
 */
export const RECENT_CHANGES_MAX = 10_000;

/**
 * How many bytes of received changes (their JSON in UTF-8) this worker keeps for late live lists over all labels
 * (more when `live.bufferSize` is above {@link RECENT_CHANGES_MAX}: see {@link RECENT_CHANGE_BYTES_ALLOWANCE}):
 * the count alone lets a writer on the channel fill it with changes as large as the transport carries (10,000
 * NOTIFYs of 8 KB: 80 MB per worker). 8 MiB holds 10,000 changes of some 800 bytes, far more than a primary key
 * and a few fields.
 */
export const RECENT_CHANGES_MAX_BYTES = 8 * 1024 * 1024;

/**
 * The bytes kept per change allowed when `live.bufferSize` is above {@link RECENT_CHANGES_MAX}: the same allowance
 * as the default bounds give (8 MiB for 10,000 changes), so that an app that raises `bufferSize` to keep more of a
 * busy label's changes gets them (a fixed 8 MiB kept 14,346 changes of 600 bytes out of 20,000), while memory stays
 * proportional to what its operator chose.
 */
const RECENT_CHANGE_BYTES_ALLOWANCE = Math.floor(RECENT_CHANGES_MAX_BYTES / RECENT_CHANGES_MAX);

/** The refusal of a publish once the broadcaster closed (the app shutting down). */
function closedRefusal(change: ModelChange): LiveTransportError {
  return new LiveTransportError(
    'closed',
    `LiveBroadcaster.publish refused the change ${change.action} "${change.modelLabel}": the app is shutting down and the live ` +
      "transport is closed (the module closes it in its onModuleDestroy); no worker got it. Publish from onModuleDestroy or earlier.",
  );
}

function checkLabel(label: unknown): asserts label is string {
  if (typeof label !== 'string' || label.trim() === '') {
    throw new TypeError(`LiveBroadcaster: a model label must be a non-empty string, got ${JSON.stringify(label)}`);
  }
}

/**
 * Fans model changes out to subscribers: the Nest counterpart of reflex-django's `live_broadcaster()`.
 *
 * Every change goes through the configured {@link LiveTransport} (in-process by default, Redis or Postgres for
 * several workers), and every worker, the sender included, hands each change it receives from the transport to
 * its local subscribers of that label exactly once. Within one publisher the order is kept.
 *
 * `publish` resolves when the change has come back through the transport to this worker, with the number of
 * this worker's subscribers it reached (other workers' subscribers are not counted: they are not knowable
 * here). So after `await publish(...)` this worker's subscribers have the change, whichever transport is used.
 *
 * @example
 * constructor(private readonly live: LiveBroadcaster) {}
 * async rename(id: number, name: string) {
 *   await this.products.update(id, { name });
 *   await this.live.publish(new ModelChange('shop.product', 'updated', id));
 * }
 * @publicApi
 */
@Injectable()
export class LiveBroadcaster implements OnModuleInit, OnModuleDestroy {
  private readonly transport: LiveTransport;
  private readonly options: ResolvedLiveOptions;
  private readonly sinks = new Map<string, Set<LiveSink>>();
  private readonly sequencer = new ChangeSequencer();
  private readonly echoes = new Map<number, (reached: number) => void>();
  private readonly recent: RecentChanges;
  private readonly logger = new Logger('ReflexBridge');
  private readonly statuses = new Subject<LiveTransportStatus>();
  private starting?: Promise<void>;
  private closed = false;
  private echoTimeoutWarned = false;
  /** What the transport last said: `down` from a lost connection (or a start without its server) until `up`. */
  private transportDown = false;

  /**
   * @param transport the injected {@link LiveTransport}; falls back to `options.transport`, then to an
   *   {@link InProcessTransport}.
   * @param options the `live` options (see {@link LiveOptions}).
   */
  constructor(
    @Optional() transport?: LiveTransport,
    @Optional() @Inject(LIVE_OPTIONS) options?: LiveOptions,
  ) {
    this.options = resolveLiveOptions(options);
    this.transport = transport ?? this.options.transport ?? new InProcessTransport();
    this.recent = new RecentChanges(
      RECENT_CHANGES_MS,
      this.options.bufferSize,
      Date.now,
      Math.max(RECENT_CHANGES_MAX, this.options.bufferSize),
      Math.max(RECENT_CHANGES_MAX_BYTES, this.options.bufferSize * RECENT_CHANGE_BYTES_ALLOWANCE),
    );
    // A transport written before LiveTransport had connection events (or a plain object given as one) has none.
    if (typeof this.transport.onConnectionChange === 'function') {
      this.transport.onConnectionChange((status) => {
        this.transportDown = status === 'down';
        // Echoes still awaited will not come back over a lost connection: settle them now (0 reached).
        if (status === 'down') this.settleEchoes();
        this.statuses.next(status);
      });
    }
  }

  /** The transport changes travel on (the injected one, `live.transport`, or the in-process default). */
  get liveTransport(): LiveTransport {
    return this.transport;
  }

  /**
   * The transport's connection as it changes after it started: `down` when it lost its connection to Redis or
   * Postgres (or started without it), `up` when it is back. A subscription made while the transport is down gets
   * `down` at once (the app's own providers subscribe after the module started the transport, which may have started
   * down), then `up` when it is back. Changes published in between may never have reached this worker (pub/sub
   * delivers at most once), so on `up`, refresh what this worker built from changes: a cache fed by
   * {@link observe}, or live lists (see the docs). Emits nothing for the in-process transport; completes on close.
   * @example
   * this.live.transportStatus$.pipe(filter((status) => status === 'up')).subscribe(() => this.prices.reload());
   */
  get transportStatus$(): Observable<LiveTransportStatus> {
    return new Observable<LiveTransportStatus>((subscriber) => {
      if (this.transportDown && !this.closed) subscriber.next('down');
      return this.statuses.subscribe(subscriber);
    });
  }

  /**
   * Starts the transport at bootstrap. A Redis or Postgres transport whose server is down starts without it (one
   * warning; `transportStatus$` says `down`, publishing fails `unavailable`) and connects in the background, so the
   * app serves while its live server is away.
   */
  async onModuleInit(): Promise<void> {
    await this.start();
  }

  /** Closes the transport and ends every subscription at shutdown. */
  async onModuleDestroy(): Promise<void> {
    await this.close();
  }

  /**
   * Starts the transport. Idempotent; `publish` calls it too, so the broadcaster also works outside Nest. A
   * failed start is forgotten so the next call tries again.
   */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new LiveTransportError('closed', 'LiveBroadcaster: start() after close()'));
    this.starting ??= this.transport.start((change) => this.receive(change)).catch((error: unknown) => {
      this.starting = undefined;
      throw error;
    });
    return this.starting;
  }

  /**
   * Sends `change` to every subscriber of its label on every worker.
   * @returns how many of this worker's subscribers received it (0 when the echo did not come back within
   *   `live.echoTimeoutMs`, or at once when the transport's listening connection is down: the echo cannot come
   *   back then; the other workers may still have received it).
   * @throws LiveTransportError when the transport refused or could not send the change; then no worker got it,
   *   except after code `timeout`, when the server may still act on it later. Code `closed` once the app is shutting
   *   down past the module's `onModuleDestroy` (an app's `beforeApplicationShutdown` or `onApplicationShutdown`), where
   *   the module closed its transport: the change reached no worker.
   */
  async publish(change: ModelChange): Promise<number> {
    if (!(change instanceof ModelChange)) {
      throw new TypeError('LiveBroadcaster.publish expects a ModelChange (new ModelChange(label, action, pk))');
    }
    // Before start(), whose own refusal ("start() after close()") named nothing the caller did.
    if (this.closed) throw closedRefusal(change);
    await this.start();
    if (this.closed) throw closedRefusal(change);
    // Our own stamp (not the transport's) is what lets us recognise this change when it comes back.
    const stamped = this.sequencer.stamp(change);
    const seq = stamped.origin!.seq;
    let timer: NodeJS.Timeout | undefined;
    const echo = new Promise<number>((resolve) => {
      this.echoes.set(seq, resolve);
    });
    try {
      await this.transport.publish(stamped);
    } catch (error) {
      this.echoes.delete(seq);
      throw error;
    }
    // With the listening side down the echo cannot come back (pub/sub keeps nothing for a missing listener), and
    // waiting for it would hold every caller (a model save's subscriber awaits this) for the whole echo timeout.
    if (!this.transportConnected()) {
      this.echoes.delete(seq);
      return 0;
    }
    const timeout = new Promise<number>((resolve) => {
      timer = setTimeout(() => {
        if (!this.echoes.delete(seq)) return;
        if (!this.echoTimeoutWarned) {
          this.echoTimeoutWarned = true;
          this.logger.warn(
            `A published live change did not come back through the transport within ${this.options.echoTimeoutMs} ms; ` +
              "this worker's subscribers may have missed it (is the transport's listening connection down?). " +
              'Logged once.',
          );
        }
        resolve(0);
      }, this.options.echoTimeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([echo, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Hands `change` to this worker's subscribers of its label, skipping the transport. Transports and tests use
   * it; application code should call {@link publish} so the other workers get the change too.
   * @returns how many subscribers received it.
   */
  deliverLocal(change: ModelChange): number {
    this.recent.record(change);
    const sinks = this.sinks.get(change.modelLabel);
    if (!sinks) return 0;
    let reached = 0;
    // A snapshot: a subscriber that unsubscribes (or subscribes another) while being called must not disturb
    // the iteration.
    for (const sink of [...sinks]) {
      if (sink.closed) {
        sinks.delete(sink);
        continue;
      }
      try {
        sink.deliver(change);
        reached += 1;
      } catch (error) {
        // A sink's own failure; the other subscribers still get the change. (RxJS consumers' errors do not get
        // here: RxJS reports them itself.)
        this.logger.error(`A live subscriber of "${change.modelLabel}" failed: ${(error as Error)?.stack ?? String(error)}`);
      }
    }
    if (sinks.size === 0) this.sinks.delete(change.modelLabel);
    return reached;
  }

  /**
   * A stream of the changes to `label`, as an async iterator with a bounded buffer (see
   * {@link LiveSubscription}). Call `unsubscribe()` (or leave the `for await` loop) when done.
   */
  subscribe(label: string, options: LiveSubscribeOptions = {}): LiveSubscription {
    checkLabel(label);
    const bufferSize = options.bufferSize ?? this.options.bufferSize;
    if (!Number.isSafeInteger(bufferSize) || bufferSize <= 0) {
      throw new TypeError(`LiveBroadcaster.subscribe: bufferSize must be a positive integer, got ${bufferSize}`);
    }
    const subscription = new LiveSubscription(label, bufferSize, (ended) => this.remove(label, ended));
    if (this.closed) {
      subscription.unsubscribe();
      return subscription;
    }
    this.add(label, subscription);
    this.startInBackground();
    return subscription;
  }

  /**
   * The changes to `label` as an RxJS Observable. Each Observable subscription is a subscriber, pushed to
   * synchronously (no buffer; use RxJS operators for back-pressure); unsubscribing removes it. Completes when
   * the broadcaster is cleared or closed. As with any Observable, an error thrown by your `next` callback goes to
   * RxJS's `config.onUnhandledError` (rethrown asynchronously by default): catch inside the callback.
   */
  observe(label: string): Observable<ModelChange> {
    checkLabel(label);
    return new Observable<ModelChange>((subscriber) => {
      if (this.closed) {
        subscriber.complete();
        return undefined;
      }
      const sink: LiveSink = {
        get closed() {
          return subscriber.closed;
        },
        deliver: (change) => subscriber.next(change),
        unsubscribe: () => subscriber.complete(),
      };
      this.add(label, sink);
      this.startInBackground();
      return () => this.remove(label, sink);
    });
  }

  /**
   * Adds a subscriber of `label` that takes each change synchronously (live lists use it: one plain object per
   * subscribed connection, no iterator or Observable). It counts in {@link subscriberCount} until it closes or
   * {@link detach} removes it.
   * @internal
   */
  attach(label: string, sink: LiveSink): void {
    checkLabel(label);
    if (this.closed) {
      sink.unsubscribe();
      return;
    }
    this.add(label, sink);
    this.startInBackground();
  }

  /**
   * Removes a subscriber {@link attach} added.
   * @internal
   */
  detach(label: string, sink: LiveSink): void {
    this.remove(label, sink);
  }

  /**
   * The changes to `label` this worker received at or after `since` (a `Date.now()` time), within the last
   * {@link RECENT_CHANGES_MS} and at most `live.bufferSize` of them, oldest first. These are the kept changes
   * themselves, the same objects for every call: copy one before a subscriber applies it (what is computed for a
   * change is cached as long as the change lives).
   * @internal
   */
  recentSince(label: string, since: number): ModelChange[] {
    return this.recent.since(label, since);
  }

  /** The resolved `live.bufferSize`: how many changes a subscriber that is not keeping up may have waiting. */
  get bufferSize(): number {
    return this.options.bufferSize;
  }

  /** The resolved `live.resyncSettleMs`: how long the transport stays up after an outage before live lists re-read. */
  get resyncSettleMs(): number {
    return this.options.resyncSettleMs;
  }

  /** How many live subscribers `label` has on this worker. */
  subscriberCount(label: string): number {
    let count = 0;
    for (const sink of this.sinks.get(label) ?? []) if (!sink.closed) count += 1;
    return count;
  }

  /** Ends every subscription on this worker (iterators finish, Observables complete). */
  clear(): void {
    const all = [...this.sinks.values()].flatMap((sinks) => [...sinks]);
    this.sinks.clear();
    for (const sink of all) sink.unsubscribe();
  }

  /** Ends every subscription and closes the transport. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.clear();
    this.statuses.complete();
    this.settleEchoes();
    await this.transport.close();
  }

  private settleEchoes(): void {
    const waiting = [...this.echoes.values()];
    this.echoes.clear();
    for (const resolve of waiting) resolve(0);
  }

  // A transport written before LiveTransport had isConnected (or a plain object given as one) counts as connected.
  private transportConnected(): boolean {
    return typeof this.transport.isConnected !== 'function' || this.transport.isConnected();
  }

  private receive(change: ModelChange): void {
    const reached = this.deliverLocal(change);
    if (change.origin?.publisher === this.sequencer.publisherId) {
      const resolve = this.echoes.get(change.origin.seq);
      if (resolve) {
        this.echoes.delete(change.origin.seq);
        resolve(reached);
      }
    }
  }

  private add(label: string, sink: LiveSink): void {
    let sinks = this.sinks.get(label);
    if (!sinks) this.sinks.set(label, (sinks = new Set()));
    sinks.add(sink);
  }

  private remove(label: string, sink: LiveSink): void {
    const sinks = this.sinks.get(label);
    if (!sinks) return;
    sinks.delete(sink);
    if (sinks.size === 0) this.sinks.delete(label);
  }

  // A subscriber on a worker that never publishes still needs the transport listening for the others' changes.
  private startInBackground(): void {
    if (this.starting) return;
    this.start().catch((error: unknown) => {
      this.logger.error(`Live transport failed to start: ${(error as Error)?.message ?? String(error)}`);
    });
  }
}
