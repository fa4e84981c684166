import { Logger } from '@nestjs/common';
import { LiveTransport } from '../live-transport.js';
import { LiveTransportError } from '../live-transport.error.js';
import { ModelChange } from '../model-change.js';
import { ChangeSequencer } from './change-sequencer.js';
import { redactUrl } from '../../common/connection-options.js';
import { RepeatedErrorLog } from '../../common/repeated-error-log.js';

/**
 * Where a transport is in its life. `start` moves `new` -> `starting` -> `started`, and back to `new` when it
 * fails so that a later `start` (the broadcaster retries) can try again; `close` moves any of them to `closed`.
 */
export type TransportPhase = 'new' | 'starting' | 'started' | 'closed';

/**
 * What a concrete transport tells {@link ReconnectingTransport} about itself: its validated settings, and the
 * words its log lines and errors use (users grep for these, so each transport keeps its own).
 */
export interface ReconnectingTransportSettings {
  /** The class name every message starts with, e.g. `RedisTransport`. */
  name: string;
  /** The server's URL; logs and errors only ever show it with its password redacted. */
  url: string;
  /** How logs and errors name the server, when not `url` redacted (shared connections name themselves). */
  safeUrl?: string;
  /** The channel changes travel on. */
  channel: string;
  /** Milliseconds a publish waits for the server. */
  publishTimeoutMs: number;
  /** First delay of the reconnection backoff. */
  minReconnectDelayMs: number;
  /** Upper bound of the reconnection backoff. */
  maxReconnectDelayMs: number;
  /** What to install when the driver is missing, completing `<name> needs …`. */
  driverHint: string;
  /** What `start` could not do, completing `<name> could not … <url>: <reason>`, e.g. `connect to`. */
  connectPhrase: string;
  /** What the engine calls one delivery, in `<name> ignored a … on "<channel>"`, e.g. `message`. */
  deliveryNoun: string;
  /**
   * Largest message, in UTF-8 bytes, sent or accepted on the channel; larger ones are refused at publish
   * (`payload_too_large`) and dropped on arrival, before they are parsed. Omitted: no bound (the engine has its own).
   */
  maxMessageBytes?: number;
}

/** How often a dropped oversized message may be logged: the line counts the others dropped meanwhile. */
const OVERSIZED_LOG_WINDOW_MS = 60_000;

function messageOf(error: unknown): string {
  return (error as Error)?.message ?? String(error);
}

/**
 * The machinery every networked {@link LiveTransport} shares, so that a transport only writes what is specific to
 * its engine (how to connect, send and release) and cannot get the rest subtly wrong:
 *
 * - the lifecycle (`start` once, retryable after a failed start, `close` idempotent and honoured even while
 *   `start` is still connecting) and the `closed` / `not_started` refusals of `publish`;
 * - loading the driver on first use, so apps that never use an engine need not install its package;
 * - stamping outgoing changes and dropping duplicate or stale incoming ones ({@link ChangeSequencer});
 * - decoding what arrives on the channel, warning once about foreign messages, and isolating the app's change
 *   handler so that one throw does not stop delivery;
 * - the reconnection backoff: exponential with jitter, so that many workers do not reconnect in lock step.
 *
 * A subclass implements {@link loadDriver}, {@link open}, {@link send} and {@link release}, and calls
 * {@link receive} with every raw payload its subscription delivers.
 *
 * @typeParam Driver the engine's client module (e.g. `redis`, `pg`), as {@link loadDriver} returns it.
 */
export abstract class ReconnectingTransport<Driver> extends LiveTransport {
  /** The channel changes travel on. */
  readonly channel: string;
  /** The class name that starts every message. */
  protected readonly name: string;
  /** The server's URL, with its password: only for the driver, never for logs. */
  protected readonly url: string;
  /** The URL with its password redacted, for log lines and error messages. */
  protected readonly safeUrl: string;
  /** Milliseconds a publish waits for the server. */
  protected readonly publishTimeoutMs: number;
  protected readonly logger = new Logger('ReflexBridge');
  private readonly minReconnectDelayMs: number;
  private readonly maxReconnectDelayMs: number;
  private readonly words: Pick<ReconnectingTransportSettings, 'driverHint' | 'connectPhrase' | 'deliveryNoun'>;
  private readonly sequencer = new ChangeSequencer();
  private phase: TransportPhase = 'new';
  private onChange?: (change: ModelChange) => void;
  private badMessageWarned = false;
  private readonly maxMessageBytes: number;
  private readonly oversizedLog = new RepeatedErrorLog({ perKind: 1, perWindow: 1, windowMs: OVERSIZED_LOG_WINDOW_MS });
  private oversized = 0;

  /** @param settings already validated by the subclass, which knows its own option names. */
  protected constructor(settings: ReconnectingTransportSettings) {
    super();
    this.name = settings.name;
    this.url = settings.url;
    this.safeUrl = settings.safeUrl ?? redactUrl(settings.url);
    this.channel = settings.channel;
    this.publishTimeoutMs = settings.publishTimeoutMs;
    this.minReconnectDelayMs = settings.minReconnectDelayMs;
    this.maxReconnectDelayMs = settings.maxReconnectDelayMs;
    const { driverHint, connectPhrase, deliveryNoun } = settings;
    this.words = { driverHint, connectPhrase, deliveryNoun };
    this.maxMessageBytes = settings.maxMessageBytes ?? Infinity;
  }

  /** Messages dropped on arrival since `start` because they were larger than the transport's `maxMessageBytes`. */
  get droppedOversized(): number {
    return this.oversized;
  }

  /**
   * Loads the driver, connects and subscribes. A subclass whose {@link open} resolves without its server (it keeps
   * connecting in the background) starts down: the listeners hear `down` at once. Rejects with code `unavailable`
   * when {@link open} failed (the transport can then be started again), and with `closed` when `close` was called
   * meanwhile.
   */
  override async start(onChange: (change: ModelChange) => void): Promise<void> {
    if (this.phase === 'closed') throw new LiveTransportError('closed', `${this.name}: start() after close()`);
    if (this.phase !== 'new') throw new Error(`${this.name}: start() was already called`);
    this.phase = 'starting';
    this.onChange = onChange;
    let driver: Driver;
    try {
      driver = await this.loadDriver();
    } catch (error) {
      this.phase = 'new';
      throw new Error(`${this.name} needs ${this.words.driverHint}`, { cause: error });
    }
    try {
      await this.open(driver);
    } catch (error) {
      if (this.isClosed()) throw this.closedWhileStarting();
      // Back to 'new' so that a later start() (the broadcaster retries) can try again.
      this.phase = 'new';
      throw new LiveTransportError(
        'unavailable',
        `${this.name} could not ${this.words.connectPhrase} ${this.safeUrl}: ${messageOf(error)}`,
        error,
      );
    }
    if (this.isClosed()) throw this.closedWhileStarting();
    this.opened();
    this.phase = 'started';
    // Started without its server: `transportStatus$` says `down` now, and `up` once the connections are made.
    this.connectionChanged();
  }

  /**
   * Stamps `change` (unless it already carries an origin) and hands it to {@link send}.
   * @throws LiveTransportError `closed` after `close`, `not_started` before `start` completed, or what `send` throws.
   */
  override async publish(change: ModelChange): Promise<void> {
    if (this.phase === 'closed') throw new LiveTransportError('closed', `${this.name}: publish() after close()`);
    if (this.phase !== 'started') throw this.notStarted();
    const payload = JSON.stringify(this.sequencer.stampIfMissing(change));
    if (payload.length > this.maxMessageBytes || Buffer.byteLength(payload, 'utf8') > this.maxMessageBytes) {
      throw new LiveTransportError(
        'payload_too_large',
        `${this.name}: the change to "${change.modelLabel}" serialises to ${Buffer.byteLength(payload, 'utf8')} bytes, over ` +
          `maxMessageBytes (${this.maxMessageBytes}); nothing was sent. Keep "data" small (subscribers re-read the row ` +
          `by primary key), or raise maxMessageBytes on every worker.`,
      );
    }
    // What receivers would refuse (data nested too deep) is refused here, as the in-process transport does: a
    // TypeError to the caller, rather than a change every worker skips while publish waits for its echo.
    if (change.data !== undefined) ModelChange.fromJSON(JSON.parse(payload));
    return this.send(payload, change);
  }

  /** Stops delivering and releases the connections ({@link release}). Idempotent. */
  override async close(): Promise<void> {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.onChange = undefined;
    await this.release();
  }

  /** Where the transport is in its life; only the base moves it. */
  protected get state(): TransportPhase {
    return this.phase;
  }

  // A method rather than an inline comparison: close() may run while start() awaits, which TypeScript's
  // narrowing of `this.state` cannot see.
  protected isClosed(): boolean {
    return this.phase === 'closed';
  }

  /** The refusal of a publish that finds no connection to send on: the same words as before `start`. */
  protected notStarted(): LiveTransportError {
    return new LiveTransportError('not_started', `${this.name}: publish() before start() completed`);
  }

  /**
   * The delay before reconnection attempt `attempt` (0 for the first): doubling from `minReconnectDelayMs` up to
   * `maxReconnectDelayMs`, then scaled by a random 50–100 % so that workers which lost the server together do not
   * hammer it together when it comes back.
   */
  protected reconnectDelay(attempt: number): number {
    const base = Math.min(this.maxReconnectDelayMs, this.minReconnectDelayMs * 2 ** Math.min(attempt, 16));
    return Math.round(base * (0.5 + Math.random() / 2));
  }

  /**
   * Decodes one raw payload from the channel and delivers it unless it is a duplicate or stale. Anything that is
   * not a change (someone else uses our channel) is skipped, warned about once and then logged at debug level;
   * a throwing change handler is logged, so it cannot stop later deliveries.
   */
  protected receive(raw: string): void {
    if (this.phase === 'closed') return;
    // Before parsing: anyone who can write to the channel could otherwise make every worker parse (and keep, and
    // deliver) a message of many megabytes. A string's UTF-8 size is at least its length, so the cheap test first.
    if (raw.length > this.maxMessageBytes || Buffer.byteLength(raw, 'utf8') > this.maxMessageBytes) {
      this.dropOversized(raw);
      return;
    }
    let change: ModelChange;
    try {
      change = ModelChange.fromJSON(JSON.parse(raw));
    } catch (error) {
      const line =
        `${this.name} ignored a ${this.words.deliveryNoun} on "${this.channel}" that is not a ModelChange: ` +
        messageOf(error);
      if (this.badMessageWarned) this.logger.debug(line);
      else this.logger.warn(`${line} (further ones are logged at debug level)`);
      this.badMessageWarned = true;
      return;
    }
    if (!this.sequencer.accept(change)) return;
    try {
      this.onChange?.(change);
    } catch (error) {
      this.logger.error(`Live change handler failed: ${(error as Error)?.stack ?? String(error)}`);
    }
  }

  /** Counts a message over `maxMessageBytes` and logs it, at most once per window (the line counts the others). */
  private dropOversized(raw: string): void {
    this.oversized++;
    const verdict = this.oversizedLog.take('oversized');
    if (!verdict.log) return;
    const others = verdict.notLoggedBefore > 0 ? `; ${verdict.notLoggedBefore} more were dropped since the last such line` : '';
    this.logger.warn(
      `${this.name} dropped a ${this.words.deliveryNoun} of ${Buffer.byteLength(raw, 'utf8')} bytes on "${this.channel}": ` +
        `over maxMessageBytes (${this.maxMessageBytes}), not parsed${others}. Something other than this app's workers ` +
        `publishes on the channel, or a worker has a larger maxMessageBytes (at most one line per ${OVERSIZED_LOG_WINDOW_MS / 1000} s).`,
    );
  }

  /** Imports the engine's client package; called by each `start`, so a missing package fails `start`, not import. */
  protected abstract loadDriver(): Promise<Driver>;

  /**
   * Connects and subscribes so that deliveries reach {@link receive}. On failure it releases what it opened and
   * rejects (the base turns that into `unavailable`). When {@link isClosed} holds once connected, it releases
   * what it opened and resolves (the base then rejects with `closed`).
   */
  protected abstract open(driver: Driver): Promise<void>;

  /** Runs once `open` succeeded and the transport was not closed meanwhile, just before it counts as started. */
  protected opened(): void {}

  /** Sends one stamped, serialized change; `change` is the caller's, for error messages. */
  protected abstract send(payload: string, change: ModelChange): Promise<void>;

  /** Releases every connection and timer; called once, by the first `close`, possibly while `start` awaits. */
  protected abstract release(): Promise<void>;

  private closedWhileStarting(): LiveTransportError {
    return new LiveTransportError('closed', `${this.name}: closed while starting`);
  }
}
