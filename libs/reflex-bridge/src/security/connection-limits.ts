import { BridgeError } from '../protocol/bridge-error.js';
import { exceedsMessageLimit } from './message-size.js';
import { DEPTH_SCAN_FROM, dropFrameUnparsed, frameShapeLimits, refuseEventFrameUnparsed } from './guarded-socket-io.parser.js';
import { eventFrameVariant } from './event-frame-variant.js';
import { keyNameBudgetUnits } from './key-name-budget-units.js';
import { stringEventPacket } from './string-event-frame.js';

/** The limits every connection of one gateway applies: one object, shared by all of them. */
export interface ConnectionLimitSettings {
  /** The namespace of the gateway (`/_event`). */
  readonly namespace: string;
  /** What the data of an Engine.IO message carrying an `event` of the namespace starts with. */
  readonly eventPrefix: string;
  /** `maxMessageBytes`: the largest inbound message. */
  readonly maxMessageBytes: number;
  /** The distinct key names a frame of `maxMessageBytes` may carry (the decoder's limit, see `frameShapeLimits`). */
  readonly maxKeyNames: number;
  /** `maxOutboundBytes`: the most output that may wait for a client that does not read. */
  readonly maxOutboundBytes: number;
  /** Unsent output past which the connection is not read until it drains ({@link OUTPUT_PAUSE_SHARE} of `maxOutboundBytes`). */
  readonly outputPauseBytes: number;
  /** Unsent output past which an event is refused instead of run ({@link OUTPUT_REFUSE_SHARE} of `maxOutboundBytes`). */
  readonly outputRefuseBytes: number;
}

/**
 * The share of `maxOutboundBytes` of unsent output past which a connection's socket is no longer read until the
 * client has read most of it: its next frames wait in TCP buffers. Without it, a client that never reads could make
 * the server produce (and hold) `maxOutboundBytes` for every connection it opens, at a hundredth of that in
 * frames: a 120-byte hydrate is answered with the whole state and the handshake's headers.
 */
export const OUTPUT_PAUSE_SHARE = 1 / 16;
/**
 * The share of `maxOutboundBytes` of unsent output past which an event that was already read (frames of the same
 * read as the one that crossed the pause) waits for the output to drain instead of running (the first few; the rest
 * are refused with `busy`), so that one read of small frames cannot still ask for megabytes. Four times the pause:
 * a client that reads its socket gets there only when the server sent it that much on its own (live changes) faster
 * than its link carries it. A queued event whose turn comes past it waits too (see `EventPipeline.processQueued`).
 */
export const OUTPUT_REFUSE_SHARE = 1 / 4;

/** The settings of a gateway on `namespace`. */
export function connectionLimitSettings(namespace: string, maxMessageBytes: number, maxOutboundBytes: number): ConnectionLimitSettings {
  // A Socket.IO EVENT packet named `event` in the namespace, as Socket.IO clients write it.
  return {
    namespace,
    eventPrefix: `2${namespace},["event",`,
    maxMessageBytes,
    maxKeyNames: frameShapeLimits(maxMessageBytes).maxKeyNames,
    maxOutboundBytes,
    outputPauseBytes: maxOutboundBytes * OUTPUT_PAUSE_SHARE,
    outputRefuseBytes: maxOutboundBytes * OUTPUT_REFUSE_SHARE,
  };
}

/** The `rate_limited` answer to an event its connection's budget refused unparsed (its name unread). */
function budgetRefusal(waitMs: number): BridgeError {
  const retryAfterMs = Math.max(1, Math.ceil(waitMs));
  return new BridgeError('rate_limited', `Too many events; try again in ${Math.ceil(retryAfterMs / 1000)} s.`, undefined, undefined, retryAfterMs);
}

/** The `invalid_event` answer to an event written otherwise than Socket.IO clients write it (see `eventFrameVariant`). */
function variantRefusal(eventPrefix: string): BridgeError {
  return new BridgeError('invalid_event', `An event must be written as Socket.IO clients write it (${eventPrefix}{…}]), with no acknowledgement id; it was not read.`);
}

/**
 * How many characters of a frame count as one message against the connection's budget: an event up to this size
 * counts once (as the pipeline counts it), a larger message once more per further this many characters. Parsing a
 * frame costs the server time in proportion to its size (and to the objects it opens, which the decoder bounds, see
 * `BYTES_PER_FRAME_CONTAINER`), so a budget that counted frames alone would let one socket keep a core busy with
 * large ones.
 */
export const CHARS_PER_BUDGET_UNIT = 8_192;

/**
 * The per-connection limits of the `/_event` gateway, kept in the connection object itself (it extends this
 * class): an idle worker holds one connection object per tab, not one object per limit.
 *
 * **Inbound frames** ({@link inspectFrame}): every Engine.IO message the socket sends, before Socket.IO decodes it:
 * - a text frame over `maxMessageBytes` is answered with `payload_too_large`; Socket.IO's decoder drops it without
 *   parsing it (see `guardedSocketIoParser`, which also bounds binary attachments, nesting and namespaces for every
 *   connection, joined or not);
 * - a message that is not an `event` is announced ({@link otherMessage}) before it is delivered;
 * - every message counts against the connection's budget (`rateLimit.perConnection`, see {@link chargeBudget}):
 *   one unit for each message that is not an `event` (an event counts once in the pipeline, where `@SkipThrottle()`
 *   can exempt it), one more per further {@link CHARS_PER_BUDGET_UNIT} characters of any message and per
 *   {@link CHARS_PER_BUDGET_UNIT} bytes of a binary attachment, and for an `event`, one more per
 *   `COOKIES_PER_BUDGET_UNIT` (250) cookies of the handshake's `Cookie` header and one more per
 *   `KEY_NAMES_PER_BUDGET_UNIT` (100) distinct key names the frame carries (inside the event's text when it came as
 *   a JSON string). An `event` frame over a kilobyte that arrives while the budget would refuse the next event
 *   ({@link nextEventRefusedForMs}) is handed on unparsed, to be answered `rate_limited`;
 * - an `event` written otherwise than Socket.IO clients write it (an acknowledgement id, whitespace, an escaped name:
 *   see `eventFrameVariant`) is counted as an event, and handed on unparsed to be answered `invalid_event`;
 * - any other message over a kilobyte (or a binary event's text) pays for its distinct key names as an event does,
 *   and past the budget is dropped unparsed: Socket.IO parses every message alike.
 * The check costs a type test, a prefix test and three length comparisons per frame; an event frame over a kilobyte
 * is scanned for its key names here, in the scan the decoder then takes instead of making its own; a frame that does
 * not begin as an event's is read up to its first array item.
 *
 * **Frame sizes** ({@link takeFrameSize}): each `event` is handed the size of the frame it came in, so the per-token
 * queue can bound the bytes it holds without serialising anything again. Engine.IO reports every frame while a
 * socket read is decoded, but Socket.IO delivers the decoded events only after the whole read (one
 * `process.nextTick` each), in the same order: the sizes wait, first in first out, until their events come. Every
 * frame Socket.IO delivers as an `event` is recorded: those in the exact shape Socket.IO clients send
 * (`2<namespace>,["event",`) and those written otherwise (see `eventFrameVariant`); an event that still finds none
 * waiting takes the largest allowed.
 *
 * **Output** ({@link countOutput}): what waits for the client is what waits in Engine.IO's queue (every packet adds
 * its size when it is queued; the queue is handed to the transport whole, so an empty queue counts from zero again)
 * plus what the WebSocket was given and has not handed to the kernel yet (its `bufferedAmount`). Past
 * `maxOutboundBytes` of unsent output {@link outputExceeded} runs once (the gateway closes the connection): a client
 * that stops reading while it keeps asking would otherwise make the server buffer without end. Long before that, the
 * gateway stops reading a connection whose {@link outputBacklog} passes `outputPauseBytes`, and refuses events read
 * past `outputRefuseBytes`: what a client's own frames ask for stays within a quarter of the limit, and only output
 * the server sends on its own (live changes, `ReflexStateService.modify`) can reach it. Reading both when a
 * packet is queued needs no `drain` listener on every transport. Sizes are counted in string length (UTF-16 units)
 * for text frames and bytes for binary ones: cheap, and close enough for a bound of megabytes.
 */
export abstract class ConnectionLimits<Settings extends ConnectionLimitSettings = ConnectionLimitSettings> {
  /**
   * The oldest frame size waiting for its event (-1: none), and the ones after it. Usually one waits at a time: an
   * idle connection then holds no array (an array that ever held a size keeps a backing store for good).
   */
  private sizeHead = -1;
  private sizeRest: number[] | undefined = undefined;
  private pendingOutput = 0;
  private outputOverLimit = false;

  /**
   * @param eventSurcharge units each event frame costs the budget beyond the event's own (see
   *   `cookieBudgetUnits`: a handshake with a huge `Cookie` header makes every event cost its middleware more).
   */
  protected constructor(
    protected readonly settings: Settings,
    private readonly eventSurcharge = 0,
  ) {}

  /** Tells the client that a frame broke the limit (a `payload_too_large` error). */
  abstract report(error: BridgeError): void;
  /** Counts `units` more against the connection's budget (see {@link inspectFrame}). */
  abstract chargeBudget(units: number): void;
  /**
   * Milliseconds until the connection's budget would let its next event through (0: it would now, or the event could
   * be one it does not count).
   */
  abstract nextEventRefusedForMs(): number;
  /** More than `maxOutboundBytes` waits for the client; called once. */
  abstract outputExceeded(pendingBytes: number): void;
  /**
   * A message within the size limit that is not an `event` in the shape Socket.IO clients send it (an event of
   * another name, an ack, a binary packet), before Socket.IO decodes and delivers it.
   */
  abstract otherMessage(): void;

  /** Looks at the data of one inbound Engine.IO `message` packet, before Socket.IO decodes it. */
  inspectFrame(data: unknown): void {
    if (typeof data !== 'string') {
      // A binary frame: an attachment. The decoder bounds its size with its packet's, whose text frame was charged;
      // its bytes are charged here as text's are. Charged nothing, a client sent 255 MB in 8 s as 990 kB attachments
      // where the same budget let 16 MB of text through, and other clients' round trips slowed 20-fold.
      const bytes = (data as { byteLength?: unknown } | undefined)?.byteLength;
      if (typeof bytes === 'number' && bytes >= CHARS_PER_BUDGET_UNIT) this.chargeBudget(Math.floor(bytes / CHARS_PER_BUDGET_UNIT));
      return;
    }
    let units = data.length > CHARS_PER_BUDGET_UNIT ? Math.floor(data.length / CHARS_PER_BUDGET_UNIT) : 0;
    if (exceedsMessageLimit(data, this.settings.maxMessageBytes)) {
      this.report(new BridgeError('payload_too_large', `The message exceeds the ${this.settings.maxMessageBytes}-byte limit and was dropped.`));
      units += 1;
    } else if (data.lastIndexOf(this.settings.eventPrefix, 0) === 0) {
      // `lastIndexOf(prefix, 0)` is `startsWith`, at a third of its cost on the sliced strings Engine.IO hands over
      // (a `charCodeAt` loop costs more still: each read unpacks the slice).
      this.recordSize(data.length);
      units += this.eventSurcharge;
      // Past its budget the event is refused whatever it holds, so a large frame is neither scanned nor parsed for it.
      // The socket is read once a second meanwhile (for its heartbeat), and each such read was parsed only to be
      // refused: 64 connections sending megabyte frames held another client's round trip for 1.6 s (median).
      const refusedForMs = data.length > DEPTH_SCAN_FROM ? this.nextEventRefusedForMs() : 0;
      if (refusedForMs > 0) refuseEventFrameUnparsed(data, budgetRefusal(refusedForMs));
      // New key names cost V8 far more to parse than their characters (a hidden class each): charged by their count,
      // inside the event's text when it came as a JSON string (see `stringEventPacket`).
      else if (data.length > DEPTH_SCAN_FROM) units += keyNameBudgetUnits(stringEventPacket(data, this.settings.eventPrefix, true)?.[1] ?? data, this.settings.maxKeyNames);
    } else {
      const variant = eventFrameVariant(data, this.settings.namespace);
      if (variant === 'text') {
        // An event written otherwise than Socket.IO clients write it: delivered to the `event` listener all the same,
        // so it takes its frame size and pays an event's surcharge like one, and is refused unparsed.
        this.recordSize(data.length);
        units += this.eventSurcharge;
        refuseEventFrameUnparsed(data, variantRefusal(this.settings.eventPrefix));
      } else if (data.length > DEPTH_SCAN_FROM && this.nextEventRefusedForMs() > 0) {
        // Any other message (or a binary event's text) Socket.IO parses as it parses an event: past the budget a large
        // one is not parsed either. Dropped, a binary packet's attachments then close its connection.
        units += 1;
        dropFrameUnparsed(data);
      } else {
        // ... and within it, it pays for its distinct key names as an event does.
        if (data.length > DEPTH_SCAN_FROM) units += keyNameBudgetUnits(data, this.settings.maxKeyNames);
        if (variant === 'binary') {
          // A binary event (its attachments follow): delivered to the `event` listener once whole, and refused there.
          this.recordSize(data.length);
          units += this.eventSurcharge;
        } else {
          units += 1;
          this.otherMessage();
        }
      }
    }
    if (units !== 0) this.chargeBudget(units);
  }

  /** The size of the frame of the event being delivered now (call once per `event`, in order). */
  takeFrameSize(): number {
    const size = this.sizeHead;
    if (size < 0) return this.settings.maxMessageBytes;
    const rest = this.sizeRest;
    if (rest === undefined) {
      this.sizeHead = -1;
    } else {
      this.sizeHead = rest.shift()!;
      if (rest.length === 0) this.sizeRest = undefined;
    }
    return size;
  }

  /** Frame sizes recorded whose events have not been delivered yet. */
  get pendingFrameSizes(): number {
    return (this.sizeHead < 0 ? 0 : 1) + (this.sizeRest?.length ?? 0);
  }

  /**
   * Counts one packet as Engine.IO queues it: `queuedPackets` is how many packets its queue holds before this one
   * (0: everything before was handed to the transport), `inFlightBytes` what the transport holds that the kernel
   * has not taken yet.
   */
  countOutput(data: unknown, queuedPackets: number, inFlightBytes: number): void {
    if (queuedPackets === 0) this.pendingOutput = 0;
    if (data !== undefined) this.pendingOutput += typeof data === 'string' ? data.length : ((data as { byteLength?: number }).byteLength ?? 0);
    const pending = this.pendingOutput + inFlightBytes;
    if (pending > this.settings.maxOutboundBytes && !this.outputOverLimit) {
      this.outputOverLimit = true;
      this.outputExceeded(pending);
    }
  }

  /** Bytes in Engine.IO's queue, as counted. */
  get pendingOutputBytes(): number {
    return this.pendingOutput;
  }

  /**
   * What waits for the client now: Engine.IO's queue while it holds `queuedPackets` (an empty queue was handed to
   * the transport, whose bytes are in `inFlightBytes`), and what the transport holds.
   */
  outputBacklog(queuedPackets: number, inFlightBytes: number): number {
    return (queuedPackets === 0 ? 0 : this.pendingOutput) + inFlightBytes;
  }

  private recordSize(size: number): void {
    if (this.sizeHead < 0) this.sizeHead = size;
    else (this.sizeRest ??= []).push(size);
  }
}
