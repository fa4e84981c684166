import { Decoder, Encoder, PacketType } from 'socket.io-parser';
import { BridgeError } from '../protocol/bridge-error.js';
import { MAX_EVENT_VALUES, MAX_ROUTER_DATA_VALUES } from '../protocol/inbound-event.js';
import { UnparsedEvent } from '../protocol/unparsed-event.js';
import { exceedsMessageLimit } from './message-size.js';
import { stringEventPacket } from './string-event-frame.js';

/** Socket.IO's CONNECT packet type (a text frame's first character): a join of a namespace. */
const CONNECT = 0x30; // '0'
/** Socket.IO packet types (a text frame's first character) that announce binary attachments. */
const BINARY_EVENT = 0x35; // '5'
const BINARY_ACK = 0x36; // '6'
const SLASH = 0x2f;
const DASH = 0x2d;
const COMMA = 0x2c;

/**
 * The deepest nesting of arrays and objects a frame may have. The pipeline refuses event payloads deeper than 32
 * levels with a structured error; this bound is for what is never a client's mistake: V8's `JSON.parse` spends
 * about 0.3 s on a megabyte of nested brackets (a few milliseconds on a megabyte of plain JSON), on the one thread
 * every client shares, before any check of ours could see the value.
 */
export const MAX_FRAME_DEPTH = 64;

/**
 * The longest join (Socket.IO CONNECT frame) a connection may send, its namespace and auth payload included. Reflex
 * clients send none (`0/_event,`); Socket.IO keeps a join's payload (`handshake.auth`) for as long as the connection
 * lives, parsed: a 990 kB payload of empty objects held 21 MB per connection, 424 MB for 20 connections, and an
 * address may hold 256 (`maxConnectionsPerAddress`).
 */
export const MAX_JOIN_FRAME_CHARS = 4_096;

/**
 * Frames up to this long are not scanned: they cannot nest deeply enough, nor carry enough objects or key names (at
 * most about 150), to cost anything to parse.
 */
export const DEPTH_SCAN_FROM = 1_024;

/**
 * Bytes of `maxMessageBytes` per object or array a frame may carry: 50,000 at the default of 1,000,000. V8's
 * `JSON.parse` spends far longer on an empty object than on a plain value of the same size (a megabyte of `{}`,
 * 333,000 of them, took 46-118 ms here where a megabyte of short strings took 8-23 ms, on two loaded cores), and
 * every client waits behind a parse: 16 connections sending such frames within their rate budget held another
 * client's round trip for 5 s. With this bound a frame of the largest size costs at most about twice what plain
 * values of that size cost. Forms and lists of records carry a few dozen bytes per object.
 */
export const BYTES_PER_FRAME_CONTAINER = 20;

/**
 * Bytes of `maxMessageBytes` per distinct key name a frame may carry: 10,000 names at the default of 1,000,000. V8's
 * `JSON.parse` gives each object shape a hidden class of its own, and an object whose keys no earlier object had
 * costs a new one: a megabyte of small objects with key names of their own (12,000 objects of 10 names) took
 * 130-490 ms to parse here, where a megabyte of `0,` took 22-50 ms, and 16 connections sending such frames within
 * their rate budgets held another client's round trip for 3.4 s (median). Forms and lists of records repeat a few
 * dozen names; a map keyed by ids (a cart by product id) has one name per entry, 10,000 of them at the default.
 */
export const BYTES_PER_FRAME_KEY_NAME = 100;

/**
 * Values (keys and array items) a frame may carry besides those of an event's `payload` and `router_data`: the
 * packet's array, the event's name and its envelope's keys. A frame past {@link MAX_EVENT_VALUES} and
 * {@link MAX_ROUTER_DATA_VALUES} and this is refused by the validation anyway, so it is refused before it is parsed.
 */
const FRAME_ENVELOPE_VALUES = 16;

/** Nesting too deep (see {@link scanFrame}). */
const TOO_DEEP = -1;

/** What the `/_event` server's decoder refuses a frame for. */
export class RefusedFrameError extends Error {}

/** Keys and array items of the frame {@link scanFrame} last scanned. */
let lastValues = 0;
/** The key names (distinct, counted up to the scan's limit and one more) of the frame {@link scanFrame} last scanned. */
const keyNames = new Set<number>();
/**
 * The event frame {@link scanEventFrame} scanned last, the names limit it was scanned for and the scan's answer, until
 * the next scan of it takes them: the connection's budget (see `ConnectionLimits.inspectFrame`) and then the decoder
 * read the same frame, and one scan serves both. Any other scan clears it: the counts it left are another frame's.
 */
let eventScanFrame: string | undefined;
let eventScanMaxKeyNames = 0;
let eventScanContainers = 0;
/**
 * The event frame its connection's budget refuses whatever it holds, and the error its client is told, from the budget's
 * look at it (see `ConnectionLimits.inspectFrame`) until the decoder, which reads it next, hands it on unparsed.
 */
let refusedEventFrame: string | undefined;
let refusedEventError: BridgeError | undefined;

/**
 * Has the decoder hand on `frame`, an `event` the budget of its connection refuses (read just before the decoder reads
 * it), as an {@link UnparsedEvent} carrying `error`, without scanning or parsing it.
 */
export function refuseEventFrameUnparsed(frame: string, error: BridgeError): void {
  refusedEventFrame = frame;
  refusedEventError = error;
}

/** A frame that is no `event` its connection's budget refuses, from the budget's look until the decoder drops it. */
let droppedFrame: string | undefined;

/**
 * Has the decoder drop `frame`, a message other than an `event` the budget of its connection refuses (read just before
 * the decoder reads it), without scanning or parsing it.
 */
export function dropFrameUnparsed(frame: string): void {
  droppedFrame = frame;
}
/**
 * Where each process's key name hashes start: a client cannot know it, so it cannot pick names that collide to pass
 * more distinct names than the limit (a collision only ever counts two names as one).
 */
const KEY_NAME_HASH_SEED = (Math.random() * 0x1_0000_0000) | 0;

/** Whether the text from `index` on, past JSON whitespace, starts with `code`. */
function nextIs(text: string, index: number, code: number): boolean {
  let next = text.charCodeAt(index);
  while (next === 0x20 || next === 0x0a || next === 0x0d || next === 0x09) next = text.charCodeAt(++index);
  return next === code;
}

/**
 * `Math.imul`, read once: inside a `vm` context (Jest runs every test file in one) each read of the global `Math` goes
 * through the context's global object, and the key name hash, one read per character, scanned a 170 kB frame in 31 ms
 * there instead of 1 ms. Apps' Jest suites run the bridge so, and so do its own e2e specs.
 */
const imul = Math.imul;

/** An FNV-1a hash of `text`'s characters from `start` up to `end`, from the process's seed. */
function hashOf(text: string, start: number, end: number): number {
  let hash = KEY_NAME_HASH_SEED ^ 0x811c9dc5;
  for (let index = start; index < end; index += 1) hash = imul(hash ^ text.charCodeAt(index), 0x01000193);
  return hash;
}

/**
 * Whether `text` nests arrays and objects more than `maxDepth` levels deep (brackets inside JSON strings do not
 * count). Linear, with no allocation: a few milliseconds for the largest frame the transport accepts.
 */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  return scanFrame(text, maxDepth) === TOO_DEEP;
}

/**
 * How many objects and arrays `text` opens (brackets inside JSON strings do not count), or {@link TOO_DEEP} (-1) as
 * soon as it nests more than `maxDepth` levels. One pass: a few milliseconds for the largest frame the transport
 * accepts, against the tens to hundreds `JSON.parse` may spend on it. It also counts, read with
 * {@link valuesInLastScan} and {@link keyNamesInLastScan} right after it: the keys and array items (every comma
 * outside strings, and the first entry of every object and array that is not empty), and the distinct key names, up
 * to `maxKeyNames` and one more (a hash of each name's characters as written, so `"a"` and `"\u0061"` count as two).
 */
export function scanFrame(text: string, maxDepth: number, maxKeyNames = 0): number {
  let depth = 0;
  let containers = 0;
  let values = 0;
  /** Where the string being read began (its first character), -1 outside strings. */
  let stringStart = -1;
  eventScanFrame = undefined;
  keyNames.clear();
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (stringStart >= 0) {
      if (code === 0x5c /* \ */) index += 1;
      else if (code === 0x22 /* " */) {
        // A key is a string followed by a colon: only keys are hashed, and only until the limit was passed.
        if (keyNames.size <= maxKeyNames && nextIs(text, index + 1, 0x3a /* : */)) keyNames.add(hashOf(text, stringStart, index));
        stringStart = -1;
      }
    } else if (code === 0x22) stringStart = index + 1;
    else if (code === 0x2c /* , */) values += 1;
    else if (code === 0x5b /* [ */ || code === 0x7b /* { */) {
      if (++depth > maxDepth) return TOO_DEEP;
      containers += 1;
      // Its first entry: the commas count the others.
      if (!nextIs(text, index + 1, code + 2 /* ] or } */)) values += 1;
    } else if (code === 0x5d /* ] */ || code === 0x7d /* } */) depth -= 1;
  }
  lastValues = values;
  return containers;
}

/**
 * {@link scanFrame} of an event frame, at {@link MAX_FRAME_DEPTH}, counting key names up to `maxKeyNames` and one
 * more: its answer, with {@link valuesInLastScan} and {@link keyNamesInLastScan} set for the frame. The first call for
 * a frame scans it; the next call for the same frame, when no other scan came in between, takes that scan's answer
 * instead of scanning it again (the budget's charge, then the decoder, read every frame: one pass each).
 */
export function scanEventFrame(text: string, maxKeyNames: number): number {
  if (text === eventScanFrame && maxKeyNames === eventScanMaxKeyNames) {
    eventScanFrame = undefined;
    return eventScanContainers;
  }
  const containers = scanFrame(text, MAX_FRAME_DEPTH, maxKeyNames);
  eventScanFrame = text;
  eventScanMaxKeyNames = maxKeyNames;
  eventScanContainers = containers;
  return containers;
}

/** The keys and array items of the frame {@link scanFrame} last scanned (commas outside strings count one each). */
export function valuesInLastScan(): number {
  return lastValues;
}

/** The distinct key names of the frame {@link scanFrame} last scanned, counted up to its `maxKeyNames` and one more. */
export function keyNamesInLastScan(): number {
  return keyNames.size;
}

/** What a frame (or an upload's arguments) of at most some size may open and carry before it is parsed. */
export interface FrameShapeLimits {
  /** Objects and arrays: one per {@link BYTES_PER_FRAME_CONTAINER} bytes. */
  maxContainers: number;
  /** Keys and array items: what an event may carry, its envelope's included. */
  maxValues: number;
  /** Distinct key names: one per {@link BYTES_PER_FRAME_KEY_NAME} bytes. */
  maxKeyNames: number;
}

/** The shape limits of a frame of at most `maxBytes` (`maxMessageBytes`, or an upload's `maxEventArgsBytes`). */
export function frameShapeLimits(maxBytes: number): FrameShapeLimits {
  return {
    maxContainers: Math.floor(maxBytes / BYTES_PER_FRAME_CONTAINER),
    maxValues: MAX_EVENT_VALUES + MAX_ROUTER_DATA_VALUES + FRAME_ENVELOPE_VALUES,
    maxKeyNames: Math.floor(maxBytes / BYTES_PER_FRAME_KEY_NAME),
  };
}

/**
 * Why `text` must not be parsed, as the end of a sentence ("more than 50000 objects and arrays"), or undefined: it
 * nests deeper than `maxDepth`, opens or carries more than `limits` allow. Frames of up to a kilobyte are not scanned:
 * they cannot hold enough to cost anything to parse.
 */
export function frameShapeRefusal(text: string, maxDepth: number, limits: FrameShapeLimits): string | undefined {
  if (text.length <= DEPTH_SCAN_FROM) return undefined;
  const containers = scanFrame(text, maxDepth, limits.maxKeyNames);
  return containers === TOO_DEEP ? `more than ${maxDepth} levels of nesting` : shapeRefusal(containers, limits);
}

/** What the frame just scanned ({@link scanFrame}, `containers` its answer) carries past `limits`, or undefined. */
function shapeRefusal(containers: number, limits: FrameShapeLimits): string | undefined {
  if (containers > limits.maxContainers) return `more than ${limits.maxContainers} objects and arrays`;
  if (lastValues > limits.maxValues) return `more than ${limits.maxValues} values`;
  if (keyNames.size > limits.maxKeyNames) return `more than ${limits.maxKeyNames} different key names`;
  return undefined;
}

/**
 * Whether a Socket.IO text packet is for `namespace` (not `/`), read as socket.io-parser reads it: the type, then for
 * a binary packet its attachment count and `-`, then `/name` up to a comma or the end. Compares in place: every frame
 * of every connection comes through here, and a substring per frame would be an allocation per event.
 */
export function isForNamespace(packet: string, namespace: string): boolean {
  let index = 1;
  const type = packet.charCodeAt(0);
  if (type === BINARY_EVENT || type === BINARY_ACK) {
    while (index < packet.length && packet.charCodeAt(index) !== DASH) index += 1;
    index += 1;
  }
  if (packet.charCodeAt(index) !== SLASH || !packet.startsWith(namespace, index)) return false;
  const after = index + namespace.length;
  return after === packet.length || packet.charCodeAt(after) === COMMA;
}

/** The limits the `/_event` server's decoder applies to every connection. */
export interface FrameGuardSettings {
  /** The one namespace the server serves. */
  namespace: string;
  /** `maxMessageBytes`: a text frame and its binary attachments together. */
  maxMessageBytes: number;
  /**
   * `maxTotalUnfinishedInboundBytes`: what all the server's connections together may hold in binary packets begun
   * and not finished (their text frames and the attachments received so far).
   */
  maxPendingBinaryBytes: number;
  /**
   * Told of every frame for which the decoder closes its connection (a refusal of its own, or socket.io-parser's
   * error on a frame it cannot read), before Socket.IO closes it: the client is given no reason, so this is the only
   * trace of why it was closed. `decoder` is the connection's (one per connection). Must not throw.
   */
  onClose?: (decoder: object, error: Error) => void;
}

/** What socket.io-parser's `Decoder` makes of no options (no reviver, at most 10 binary attachments), kept once. */
const DECODER_DEFAULTS = Object.freeze((new Decoder() as unknown as { opts: object }).opts);

/**
 * Socket.IO's own parser, with a decoder that looks at every frame of every connection before Socket.IO parses it:
 * the custom `parser` option Socket.IO offers for this (its encoder is Socket.IO's own, so what the bridge writes is
 * unchanged). The frame limits of the gateway's connections (see `ConnectionLimits`) only apply once a socket
 * joined `/_event`; these apply from the first frame, joined or not, and to whatever namespace a frame names:
 *
 * - a packet for another namespace than the bridge's closes the connection: the server serves nothing else, and
 *   Socket.IO would admit a socket to its default namespace `/` with no limit of the bridge's on it;
 * - a text frame nesting more than {@link MAX_FRAME_DEPTH} levels closes the connection, without being parsed;
 * - a text frame opening more objects and arrays than one per {@link BYTES_PER_FRAME_CONTAINER} bytes of
 *   `maxMessageBytes`, carrying more distinct key names than one per {@link BYTES_PER_FRAME_KEY_NAME} bytes, or more
 *   values (keys and array items) than an event may carry, is not parsed: an `event` in the shape Socket.IO clients
 *   send reaches the gateway as an {@link UnparsedEvent}, answered `invalid_payload` to its client (its frame was charged to the connection's budget
 *   as any other), any other message is dropped; before the join it closes the connection;
 * - an `event` frame whose connection is past its rate budget is not parsed either when the connection says so
 *   ({@link refuseEventFrameUnparsed}): it reaches the gateway as an {@link UnparsedEvent} answered `rate_limited`;
 *   any other message the connection says so of is dropped unparsed ({@link dropFrameUnparsed});
 * - a text frame over `maxMessageBytes` is not parsed (the gateway's connection answers it `payload_too_large`
 *   and counts it against the connection's budget); before the join, when no connection of the gateway exists to
 *   count it, it closes the connection (no Socket.IO client sends anything before its join);
 * - an `event` that carries its event as a JSON string (which the pipeline parses, as Reflex's server does) is
 *   checked on that text as a frame is (see `stringEventPacket`): nesting, objects, values and key names;
 * - binary attachments count with their packet against `maxMessageBytes`: past it the connection closes (Socket.IO
 *   keeps what it was promised until the packet is whole, and an attacker can promise and never send). All the
 *   binary packets begun and not finished on the server's connections together hold at most
 *   `maxPendingBinaryBytes`: the connection whose packet would take them past it is closed. Without that bound, 500
 *   connections each holding a packet with one of its two megabyte attachments held 375 MB for as long as they
 *   answered the heartbeat (no Reflex client sends binary packets);
 * - a join (CONNECT packet) over {@link MAX_JOIN_FRAME_CHARS} closes the connection unparsed: Socket.IO keeps its
 *   payload for the connection's life;
 * - a second join (CONNECT packet) closes the connection. A Socket.IO client joins once per connection: after a
 *   refusal (`no_token`) it closes the connection itself, and the query it was refused for cannot change on it.
 *   Socket.IO let a refused connection ask again until its `connectTimeout` (45 s), each ask costing a socket, the
 *   namespace's middleware, an answer queued for a client that need not read it, and a parse of the join's payload
 *   (up to `maxMessageBytes`), none of it counted against a budget: no connection of the gateway exists yet.
 *
 * Refusing means throwing from `add`, which Socket.IO answers by closing that connection; no other client notices.
 * `onClose` is told why.
 */
export function guardedSocketIoParser(settings: FrameGuardSettings): { Encoder: typeof Encoder; Decoder: typeof Decoder } {
  const { namespace, maxMessageBytes, maxPendingBinaryBytes, onClose } = settings;
  const limits = frameShapeLimits(maxMessageBytes);
  const eventPrefix = `${PacketType.EVENT}${namespace},["event",`;
  /** Bytes of the binary packets being put together on all the server's connections. */
  let pendingBinaryBytes = 0;
  class GuardedDecoder extends Decoder {
    /** Bytes of the binary packet being put together, or of the last one (set only on connections that send one). */
    declare private binaryBytes?: number;
    /** The part of {@link pendingBinaryBytes} that is this connection's packet being put together. */
    declare private pendingBytes?: number;
    /** Set once the connection asked to join. */
    private joinAsked: boolean;

    constructor() {
      super();
      // socket.io-parser copies its defaults into a fresh object per decoder, which every idle connection keeps (40
      // bytes); Socket.IO passes none, so every decoder of the worker reads the same ones.
      (this as unknown as { opts: object }).opts = DECODER_DEFAULTS;
      // Set here, V8 keeps it inside the decoder: set at the join, it took an array of its own (40 bytes).
      this.joinAsked = false;
    }

    override add(frame: unknown): void {
      try {
        this.guardedAdd(frame);
      } catch (error) {
        // Socket.IO closes the connection for whatever `add` throws.
        onClose?.(this, error instanceof Error ? error : new Error(String(error)));
        throw error;
      }
    }

    private guardedAdd(frame: unknown): void {
      if (typeof frame === 'string') {
        if (!isForNamespace(frame, namespace)) throw new RefusedFrameError(`No namespace but ${namespace} is served.`);
        if (frame === refusedEventFrame) {
          const error = refusedEventError!;
          refusedEventFrame = refusedEventError = undefined;
          this.emitUnparsed(error);
          return;
        }
        if (frame === droppedFrame) {
          droppedFrame = undefined;
          return;
        }
        const type = frame.charCodeAt(0);
        if (type === CONNECT) {
          if (this.joinAsked) throw new RefusedFrameError('A connection may join once.');
          if (frame.length > MAX_JOIN_FRAME_CHARS) throw new RefusedFrameError(`A join may carry at most ${MAX_JOIN_FRAME_CHARS} characters.`);
          this.joinAsked = true;
        }
        if (type === BINARY_EVENT || type === BINARY_ACK) this.binaryBytes = frame.length;
        else if (exceedsMessageLimit(frame, maxMessageBytes)) {
          if (!this.joinAsked) throw new RefusedFrameError(`A frame over the ${maxMessageBytes}-byte limit came before the join.`);
          return;
        }
        if (frame.length > DEPTH_SCAN_FROM) {
          const isEvent = frame.lastIndexOf(eventPrefix, 0) === 0;
          // An event sent as a JSON string: its text is what the pipeline parses, so its text is what is checked.
          const stringEvent = isEvent ? stringEventPacket(frame, eventPrefix, false) : undefined;
          if (stringEvent === null) {
            if (this.joinAsked !== true) throw new RefusedFrameError('An event came before the join.');
            this.emitUnparsed(new BridgeError('invalid_event', 'An event sent as a JSON string must be the only item after its name; it was not read.'));
            return;
          }
          const containers = scanEventFrame(stringEvent?.[1] ?? frame, limits.maxKeyNames);
          if (containers === TOO_DEEP) throw new RefusedFrameError(`A frame nests more than ${MAX_FRAME_DEPTH} levels.`);
          const refusal = shapeRefusal(containers, limits);
          if (refusal !== undefined) {
            if (this.joinAsked !== true) throw new RefusedFrameError(`A frame with ${refusal} came before the join.`);
            if (isEvent) this.emitUnparsed(new BridgeError('invalid_payload', `The event carries ${refusal}.`));
            return;
          }
          if (stringEvent !== undefined) {
            // Already parsed: handed on as socket.io-parser would hand it, without parsing the frame again.
            this.emitReserved('decoded', { type: PacketType.EVENT, nsp: namespace, data: stringEvent });
            return;
          }
        }
        if (type === BINARY_EVENT || type === BINARY_ACK) this.holdPending(frame.length);
      } else {
        const bytes = (frame as { byteLength?: number } | undefined)?.byteLength ?? 0;
        this.binaryBytes = (this.binaryBytes ?? 0) + bytes;
        if (this.pendingBytes !== undefined) this.holdPending(bytes);
      }
      if (this.binaryBytes !== undefined && this.binaryBytes > maxMessageBytes) throw new RefusedFrameError(`A binary packet exceeds the ${maxMessageBytes}-byte limit.`);
      super.add(frame);
      // Whole (socket.io-parser let go of its reconstructor): what it held is free.
      if (this.pendingBytes !== undefined && !(this as unknown as { reconstructor?: unknown }).reconstructor) this.releasePending();
    }

    /** Socket.IO destroys the decoder of a connection that closed: its unfinished packet is gone. */
    override destroy(): void {
      super.destroy();
      this.releasePending();
    }

    /** Counts `bytes` more of this connection's unfinished binary packet against the server's bound. */
    private holdPending(bytes: number): void {
      this.pendingBytes = (this.pendingBytes ?? 0) + bytes;
      pendingBinaryBytes += bytes;
      if (pendingBinaryBytes > maxPendingBinaryBytes) {
        throw new RefusedFrameError(`Binary packets begun and not finished hold more than ${maxPendingBinaryBytes} bytes on this server.`);
      }
    }

    private releasePending(): void {
      if (this.pendingBytes === undefined) return;
      pendingBinaryBytes -= this.pendingBytes;
      this.pendingBytes = undefined;
    }

    /** Hands on an `event` refused unparsed, so that its client is told why (see {@link UnparsedEvent}). */
    private emitUnparsed(error: BridgeError): void {
      this.emitReserved('decoded', { type: PacketType.EVENT, nsp: namespace, data: ['event', new UnparsedEvent(error)] });
    }
  }
  return { Encoder, Decoder: GuardedDecoder };
}
