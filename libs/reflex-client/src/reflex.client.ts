import { io, type Socket } from 'socket.io-client';
import type { BridgeErrorPayload } from './bridge-error.types.js';
import type { ClientEvent, RedirectOptions } from './client-event.types.js';
import { ConnectionError } from './connection.error.js';
import type { ConnectionStatus } from './connection.status.js';
import { ListenerSet, type Unsubscribe } from './listener.set.js';
import type { OutboundEvent, RouterData } from './outbound-event.types.js';
import {
  CLOSING_NOTICE_QUERY,
  SESSION_COOKIE_EVENT,
  SESSION_COOKIE_PAYLOAD_KEY,
  BRIDGE_ERROR_PAYLOAD_KEY,
  HANDOFF_SECRET_HEADER,
  CLIENT_TOKEN_HEADER,
  DEFAULT_EVENT_PATH,
  HYDRATE_EVENT,
  IS_HYDRATED_KEY,
  ON_LOAD_INTERNAL_EVENT,
  ROOT_STATE_NAME,
  UPDATE_VARS_INTERNAL_EVENT,
  SocketMessage,
} from './protocol.constants.js';
import { LiveSubscriptions } from './live-subscriptions.js';
import { nestsDeeperThan, resolveFrameLimits, type ResolvedFrameLimits } from './frame.limits.js';
import { sizeLimitedParser } from './size-limited.parser.js';
import { ReconnectBackoff, resolveReconnectOptions, type ResolvedReconnectOptions } from './reconnect.backoff.js';
import { defaultRedirectHandler, isScriptUrl, toRedirectOptions } from './redirect.handler.js';
import { applyBrowserStorageEvent, STORAGE_EVENTS } from './storage-event.handler.js';
import type { ReflexClientOptions, ReflexSocketOptions } from './reflex-client.options.js';
import { buildRouterData } from './router-data.builder.js';
import { StateStore, stripFieldMarker, type StateVars } from './state.store.js';
import type { StateUpdate } from './state-update.types.js';
import { TokenStore } from './token.store.js';
import { isHandshakeToken } from './token.generator.js';
import { ClientStorage } from './client-storage.js';
import { sendBrowserUpload } from './browser-upload.transport.js';
import { sendNodeUpload } from './node-upload.transport.js';
import { UploadProgressReporter } from './upload-progress.reporter.js';
import { abortedUploadError, UploadRequestError } from './upload-request.error.js';
import { EVENT_HANDLER_HEADER, prepareUploadFiles, type UploadRequest } from './upload.request.js';
import { uploadUrlOf } from './upload-url.builder.js';
import { MAX_TIMER_DELAY_MS, startTimeout } from './timer.delay.js';
import type { UploadFileInput, UploadRequestOptions, UploadResult } from './upload.types.js';

/** Called with the new public vars of a state after each delta that touched it, and the vars that delta changed. */
export type StateListener<T extends StateVars = StateVars> = (vars: T, changed: StateVars) => void;

/** An event waiting in the queue for an open connection. */
interface QueuedEvent {
  name: string;
  payload: Record<string, unknown>;
  /** Its length as JSON, counted against `maxQueuedChars`. */
  chars: number;
  /** The page it was sent on: a handler reading its route must not run for a page the tab went to since. */
  routerData: RouterData;
}

/** A `ping()` waiting for the server's answer. */
interface PendingPing {
  sentAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  resolve(ms: number): void;
  reject(error: Error): void;
}

/** The promise `connect()` hands out, settled from the socket callbacks. */
interface ConnectWaiter {
  promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/** Most event names an `events_unconfirmed` report lists (it counts them all): a dead socket the app kept sending on. */
const MAX_UNHEARD_LISTED = 100;
/**
 * How long the client waits, after answering a server's `server_closing`, for the server to close the connection
 * before it drops it itself (a server waits at most 2 s for the answer, then closes every connection).
 */
const CLOSING_SOCKET_TIMEOUT_MS = 10_000;
/** The `maxQueuedEvents` default: far more than a user clicks while a connection is re-established. */
const DEFAULT_MAX_QUEUED_EVENTS = 1000;
/** The `maxQueuedChars` default: far more than the events a server takes (1 MB each by default) a page queues. */
const DEFAULT_MAX_QUEUED_CHARS = 16 * 1024 * 1024;
/** The `maxUploadUpdates` default. */
const DEFAULT_MAX_UPLOAD_UPDATES = 1000;
/** The `maxUploadAnswerChars` default. */
const DEFAULT_MAX_UPLOAD_ANSWER_CHARS = 64 * 1024 * 1024;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The length of an event as JSON text, as Socket.IO will encode it.
 * @throws TypeError when the payload cannot be encoded (a BigInt, a cycle).
 */
function serializedLength(name: string, payload: Record<string, unknown>): number {
  try {
    return name.length + JSON.stringify(payload).length;
  } catch (error) {
    throw new TypeError(`The payload of the event "${name.slice(0, 200)}" cannot be sent as JSON: ${String(error)}`, { cause: error });
  }
}

function createWaiter(): ConnectWaiter {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function describe(value: unknown): string {
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 500 ? `${text.slice(0, 500)}…` : text;
  } catch {
    return String(value);
  }
}

/**
 * A client for a Reflex-compatible event channel (ReflexBridge or Reflex itself), for browsers and Node.
 *
 * It opens a WebSocket-only Socket.IO connection to the `/_event` namespace with the client token in the query,
 * runs the hydrate sequence after every (re)connect, keeps a local copy of the state tree from the deltas the
 * server sends, queues events while offline, and reconnects by hand with a backoff (subscribing the live lists the
 * app subscribed again on each new connection).
 *
 * @example
 * ```ts
 * const client = new ReflexClient({ url: 'http://localhost:3000' });
 * await client.connect();
 * client.call('reflex___state____state.counter_state', 'increment');
 * const counter = await client.waitFor('reflex___state____state.counter_state', (s) => s.count === 1);
 * client.disconnect();
 * ```
 */
export class ReflexClient {
  private readonly store = new StateStore();
  private readonly tokens: TokenStore;
  private readonly endpoint: string;
  private readonly path: string;
  private readonly reconnectOptions: ResolvedReconnectOptions | undefined;
  private readonly backoff: ReconnectBackoff | undefined;
  private readonly connectTimeoutMs: number;
  private readonly frameLimits: ResolvedFrameLimits;
  private readonly queue: QueuedEvent[] = [];
  /** The `maxQueuedEvents` option. */
  private readonly maxQueuedEvents: number;
  /** The `maxQueuedChars` option. */
  private readonly maxQueuedChars: number;
  /** Characters (as JSON) of the events in `queue`. */
  private queuedChars = 0;
  /** The `maxUploadUpdates` option. */
  private readonly maxUploadUpdates: number;
  /** The `maxUploadAnswerChars` option. */
  private readonly maxUploadAnswerChars: number;
  /** Events refused since the client was made, the queue being full. */
  private refusedEvents = 0;
  /** The queue's overflow was reported and it has not had room since: later refusals are only counted. */
  private queueFullReported = false;
  private readonly pings: PendingPing[] = [];
  /**
   * Answers still owed, on the current socket, to pings that timed out: a server answers every ping, in order, so
   * the next answers are theirs, not the answers to the pings waiting now.
   */
  private latePingAnswers = 0;
  private readonly uploadEndpoint: string;
  /** Uploads in flight that were given an `uploadId`, to refuse a second one and to cancel them. */
  private readonly uploads = new Map<string, AbortController>();
  /**
   * The names of the app's events written on the current socket since the server was last heard from (a message, or its
   * heartbeat), at most {@link MAX_UNHEARD_LISTED} of them, and how many there were: on a connection that died
   * silently they may never have arrived, which the app is told when it is declared dead.
   */
  private unheard: string[] = [];
  private unheardCount = 0;
  /**
   * Once the server said it closes the current socket (`server_closing`): how many of the app's events were queued
   * since, instead of sent on it. Undefined while the socket is not closing.
   */
  private heldWhileClosing: number | undefined;
  /** Drops a closing socket the server did not close within {@link CLOSING_SOCKET_TIMEOUT_MS}. */
  private closingTimer: ReturnType<typeof setTimeout> | undefined;
  /** The app's `live_subscribe` events, sent again once each new connection is ready. */
  private readonly liveSubscriptions = new LiveSubscriptions();

  private page: string | undefined;
  /** The app's client storage vars, when the `clientStorage` option declares any. */
  private readonly clientStorage: ClientStorage | undefined;
  /** Stops listening to other tabs' storage changes. */
  private unwatchStorage: (() => void) | undefined;
  private socket: Socket | undefined;
  private currentStatus: ConnectionStatus = 'idle';
  /** The user wants a connection (between `connect()` and `disconnect()` or a final failure). */
  private wanted = false;
  /** No connection of the current `connect()` call has been ready yet. */
  private initialAttempt = false;
  /** The current socket has seen `is_hydrated: true`. */
  private ready = false;
  /**
   * A storage event ran the hydrate sequence again, and no app event or new connection came since: another one is
   * the answer to that sequence (a page whose on-load handler clears storage), which would run it again, for good.
   */
  private storageRehydrated = false;
  /** The root state's `is_hydrated`, as last reported on the current socket. */
  private rootHydrated = false;
  private waiter: ConnectWaiter | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * The deadline of a reconnection (no `connect()` waits on it, so `connectTimer` does not run): a socket not ready
   * within `connectTimeoutMs` is dropped and the next attempt scheduled.
   */
  private attemptTimer: ReturnType<typeof setTimeout> | undefined;

  private readonly stateListeners = new Map<string, ListenerSet<[StateVars, StateVars]>>();
  private readonly bridgeErrorListeners = new ListenerSet<[BridgeErrorPayload]>();
  private readonly updateListeners = new ListenerSet<[StateUpdate]>();
  private readonly clientEventListeners = new ListenerSet<[ClientEvent]>();
  private readonly connectionErrorListeners = new ListenerSet<[ConnectionError]>();
  private readonly statusListeners = new ListenerSet<[ConnectionStatus]>();
  private readonly tokenListeners = new ListenerSet<[string]>();
  /** The `onRedirect` option (or the browser default), called safely. */
  private readonly redirectCallback = new ListenerSet<[string, RedirectOptions]>();
  /** The `onClientEvent` option, called safely. */
  private readonly clientEventCallback = new ListenerSet<[ClientEvent]>();

  /**
   * Creates a client. Nothing connects until {@link ReflexClient.connect} is called.
   * @throws TypeError when `url` is not an absolute URL (in a browser, a URL relative to the page also works).
   * @throws RangeError when a reconnect or timeout option is negative.
   */
  constructor(private readonly options: ReflexClientOptions) {
    let base: URL;
    try {
      // In a browser a relative URL (e.g. '/') is resolved against the page.
      base = new URL(options.url, (globalThis as { location?: { href?: string } }).location?.href);
    } catch (error) {
      throw new TypeError(`ReflexClient: "url" must be an absolute URL, got ${describe(options.url)}.`, { cause: error });
    }
    this.path = options.path ?? DEFAULT_EVENT_PATH;
    const namespace = options.namespace ?? this.path;
    this.endpoint = base.href.replace(/\/+$/, '') + (namespace.startsWith('/') ? namespace : `/${namespace}`);
    this.uploadEndpoint = uploadUrlOf(base, this.path, options.uploadUrl);
    this.tokens = new TokenStore({ token: options.token, storage: options.storage });
    this.page = options.page;
    if (options.reconnect !== false) {
      this.reconnectOptions = resolveReconnectOptions(options.reconnect);
      this.backoff = new ReconnectBackoff(this.reconnectOptions);
    }
    this.frameLimits = resolveFrameLimits(options.frameLimits);
    this.maxQueuedEvents = options.maxQueuedEvents ?? DEFAULT_MAX_QUEUED_EVENTS;
    if (!(this.maxQueuedEvents >= 1)) throw new RangeError('ReflexClient: "maxQueuedEvents" must be a number >= 1.');
    this.maxQueuedChars = options.maxQueuedChars ?? DEFAULT_MAX_QUEUED_CHARS;
    if (!(this.maxQueuedChars >= 1)) throw new RangeError('ReflexClient: "maxQueuedChars" must be a number >= 1.');
    this.maxUploadUpdates = options.maxUploadUpdates ?? DEFAULT_MAX_UPLOAD_UPDATES;
    if (!(this.maxUploadUpdates >= 0)) throw new RangeError('ReflexClient: "maxUploadUpdates" must be a number >= 0.');
    this.maxUploadAnswerChars = options.maxUploadAnswerChars ?? DEFAULT_MAX_UPLOAD_ANSWER_CHARS;
    if (!(this.maxUploadAnswerChars >= 1)) throw new RangeError('ReflexClient: "maxUploadAnswerChars" must be a number >= 1.');
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (!(this.connectTimeoutMs >= 0)) throw new RangeError('ReflexClient: "connectTimeoutMs" must be a number >= 0.');
    const redirect = options.onRedirect ?? defaultRedirectHandler();
    if (redirect) this.redirectCallback.add(redirect);
    if (options.onClientEvent) this.clientEventCallback.add(options.onClientEvent);
    const storage = options.clientStorage ? new ClientStorage(options.clientStorage) : undefined;
    if (storage?.declared) this.clientStorage = storage;
  }

  /** The current client token: the one sent in the next connection's query, replaced when the server sends `new_token`. */
  get token(): string {
    return this.tokens.token;
  }

  /** Where the client is in its connection life cycle. */
  get status(): ConnectionStatus {
    return this.currentStatus;
  }

  /** True while the socket is open. */
  get connected(): boolean {
    return this.socket?.connected === true;
  }

  /** True while the socket is open and the server reports the state as hydrated (root `is_hydrated`). */
  get hydrated(): boolean {
    return this.connected && this.rootHydrated;
  }

  /** Number of events waiting for a connection (at most `maxQueuedEvents`, of at most `maxQueuedChars` in all). */
  get queued(): number {
    return this.queue.length;
  }

  /** Events not sent since this client was made because the queue was full (`maxQueuedEvents` / `maxQueuedChars`, see `queue_full`). */
  get droppedEvents(): number {
    return this.refusedEvents;
  }

  /** The full Socket.IO URL the client connects to (base URL + namespace). */
  get url(): string {
    return this.endpoint;
  }

  /** The URL `upload()` posts to (see the `uploadUrl` option). */
  get uploadUrl(): string {
    return this.uploadEndpoint;
  }

  /**
   * Connects and runs the hydrate sequence. Resolves once the server reports the state hydrated
   * (root `is_hydrated` becomes `true` after `hydrate` and `on_load_internal`), so `state()` holds the whole tree.
   *
   * Calling it again while connecting returns the same promise; once ready it resolves at once. It rejects with a
   * {@link ConnectionError}: `connect_error` when the first attempt fails (e.g. the server refused the token)
   * unless `reconnect.retryInitialConnect` is set, `timeout` after `connectTimeoutMs`, `gave_up`, or `closed`
   * when `disconnect()` is called first. After a rejection the client is `disconnected`.
   */
  connect(): Promise<void> {
    if (this.waiter) return this.waiter.promise;
    if (this.ready && this.connected) return Promise.resolve();
    const waiter = createWaiter();
    this.waiter = waiter;
    if (!this.wanted) {
      this.wanted = true;
      this.initialAttempt = true;
      this.backoff?.reset();
    }
    if (this.connectTimeoutMs > 0) {
      this.connectTimer = startTimeout(() => {
        this.connectTimer = undefined;
        const error = new ConnectionError('timeout', `The state was not hydrated within ${this.connectTimeoutMs} ms.`);
        // Queued events flushed on a socket that never hydrated (a server half up) may not have run: reported, as
        // for a lost connection, not dropped with the socket without a word.
        const unheard = this.dropSocket();
        this.connectionErrorListeners.emit(error);
        if (unheard.count > 0) this.reportUnheard(unheard);
        this.stop(error);
      }, this.connectTimeoutMs);
    }
    // Another tab changed a synced localStorage var: tell the server, as Reflex's client does.
    this.unwatchStorage ??= this.clientStorage?.watch((vars) => this.send(UPDATE_VARS_INTERNAL_EVENT, { vars }));
    if (!this.socket && this.reconnectTimer === undefined) this.open();
    return waiter.promise;
  }

  /**
   * Closes the connection and stops reconnecting. A pending `connect()` and pending `ping()`s reject with a
   * `closed` {@link ConnectionError}. Queued events stay queued for a later `connect()`; the local state is kept.
   */
  disconnect(): void {
    this.stop(new ConnectionError('closed', 'disconnect() was called.'));
  }

  /**
   * Sends an event to the server. While there is no open connection the event is queued and sent after the
   * hydrate sequence of the next connection, in order. `router_data` is the page the event was sent on: one queued on
   * a page left since (a `navigate()` while offline) goes out with that page, before the current page's on-load.
   * @param name Full handler name: `<full state name>.<handler>`.
   * @param payload Handler arguments keyed by parameter name.
   * @throws TypeError when `name` is empty, `payload` is not an object, or it cannot be sent as JSON (a BigInt, a cycle).
   */
  send(name: string, payload: Record<string, unknown> = {}): void {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('An event name must be a non-empty string.');
    if (!isRecord(payload)) throw new TypeError('An event payload must be an object of handler arguments.');
    this.sendOrQueue(name, payload);
    this.storageRehydrated = false;
    // Only once it went out or was queued: a payload Socket.IO cannot encode, sent again on each new connection,
    // threw out of its ready handler there, before connect() resolved.
    this.liveSubscriptions.requested(name, payload);
  }

  /**
   * Sends an event now, or queues it until the next connection's hydrate sequence ran.
   * @throws TypeError when it is queued and its payload cannot be sent (a BigInt, a cycle): sent at once, Socket.IO
   * throws as it encodes it; queued, it would throw later, out of the next connection's handler.
   */
  private sendOrQueue(name: string, payload: Record<string, unknown>): void {
    const socket = this.socket;
    if (socket?.connected && this.heldWhileClosing === undefined) this.emitEvent(socket, name, payload);
    else {
      const chars = serializedLength(name, payload);
      if (this.queue.length < this.maxQueuedEvents && this.queuedChars + chars <= this.maxQueuedChars) {
        this.queue.push({ name, payload, chars, routerData: buildRouterData(this.page) });
        this.queuedChars += chars;
        if (this.heldWhileClosing !== undefined) this.heldWhileClosing += 1;
        // The queue had room: a later overflow is a new one, reported again.
        this.queueFullReported = false;
      } else this.refuseQueued(name);
    }
  }

  /**
   * The queue is full: the event is not queued, so it will not be sent. Reported once until the queue has room again
   * (a server asking for an event per line of a long upload answer would otherwise call the listeners per line).
   */
  private refuseQueued(name: string): void {
    this.refusedEvents += 1;
    if (this.queueFullReported) return;
    this.queueFullReported = true;
    const max = this.maxQueuedEvents;
    const maxChars = this.maxQueuedChars;
    const waiting = `${this.queue.length} events (${this.queuedChars} characters) already wait for a connection`;
    const message = `The event "${name.slice(0, 200)}" was not sent: ${waiting} (maxQueuedEvents (${max}), maxQueuedChars (${maxChars})). Later ones are dropped, unreported, until the queue has room.`;
    this.connectionErrorListeners.emit(new ConnectionError('queue_full', message, { data: { event: name, maxQueuedEvents: max, maxQueuedChars: maxChars } }));
  }

  /**
   * Sends an event to a handler of a state: `send(`${stateName}.${handler}`, payload)`. A `live_subscribe` (a
   * state's live-list subscription, which the server ends with the connection) is sent again by the client once
   * each later connection is ready, as the hydrate sequence is.
   * @param stateName Full state name, e.g. `reflex___state____state.counter_state`.
   * @param handler Handler (method) name, e.g. `increment`.
   * @throws TypeError when a name is empty, `payload` is not an object, or it cannot be sent as JSON (a BigInt, a cycle).
   */
  call(stateName: string, handler: string, payload: Record<string, unknown> = {}): void {
    if (typeof stateName !== 'string' || stateName.length === 0) throw new TypeError('A state name must be a non-empty string.');
    if (typeof handler !== 'string' || handler.length === 0) throw new TypeError('A handler name must be a non-empty string.');
    this.send(`${stateName}.${handler}`, payload);
  }

  /**
   * Uploads files to an upload handler of a state (one with an `@EventUploads()` or `@EventUploadChunks()`
   * parameter): a `multipart/form-data` POST to {@link ReflexClient.uploadUrl} with this tab's token and the
   * handler's full name in headers, credentials included (in Node: the socket's `extraHeaders`).
   *
   * In buffered mode the server answers `200` with one `StateUpdate` per line as the handler runs; each is applied
   * to the local state as it arrives, exactly like a socket `event` message (state listeners, `onEvent`, frontend
   * events). In streaming mode it answers `202` once the whole body was consumed, and the deltas come over the
   * socket. Browsers send with `XMLHttpRequest`; Node streams with `node:http`/`node:https` and never holds a
   * stream source whole in memory. The socket should be connected, so the server knows the token.
   *
   * @param stateName Full state name, e.g. `reflex___state____state.catalog_state`.
   * @param handler Handler (method) name as written on the server, camelCase kept, e.g. `attachImage`.
   * @param files Blobs/Files, or `{ name, data, size?, contentType? }` with `data` a Blob, bytes or (Node) a Readable.
   * @returns The status, the mode and the applied updates.
   * @throws TypeError (rejects) for an empty name, bad files or `extraArgs` that are not an object.
   * @throws UploadRequestError (rejects) with `status`, `code` and `detail`: the server's refusal (400, 403, 404,
   * 409/410, 413, 415, …), or `aborted`, `network_error`, `upload_in_progress`, `invalid_response`, `source_error`.
   */
  async upload(stateName: string, handler: string, files: readonly UploadFileInput[], options: UploadRequestOptions = {}): Promise<UploadResult> {
    if (typeof stateName !== 'string' || stateName.length === 0) throw new TypeError('A state name must be a non-empty string.');
    if (typeof handler !== 'string' || handler.length === 0) throw new TypeError('A handler name must be a non-empty string.');
    const { extraArgs, onProgress, signal, uploadId } = options;
    if (extraArgs !== undefined && !isRecord(extraArgs)) throw new TypeError('upload(): "extraArgs" must be an object of handler arguments.');
    if (onProgress !== undefined && typeof onProgress !== 'function') throw new TypeError('upload(): "onProgress" must be a function.');
    if (uploadId !== undefined && (typeof uploadId !== 'string' || uploadId.length === 0)) throw new TypeError('upload(): "uploadId" must be a non-empty string.');
    const prepared = prepareUploadFiles(files);
    if (uploadId !== undefined && this.uploads.has(uploadId)) {
      throw new UploadRequestError(0, 'upload_in_progress', `An upload with id "${uploadId}" is already in flight.`);
    }
    if (signal?.aborted) throw abortedUploadError(signal.reason);
    // One controller per upload: the caller's signal and cancelUpload() both abort it.
    const controller = new AbortController();
    const forward = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    if (uploadId !== undefined) {
      this.uploads.set(uploadId, controller);
      // An aborted upload frees its id at once, not when its promise settles (a microtask later): a retry under the
      // same id right after cancelUpload() (a "restart upload" button) was refused as `upload_in_progress`.
      controller.signal.addEventListener('abort', () => this.releaseUploadId(uploadId, controller), { once: true });
    }
    const browser = typeof globalThis.XMLHttpRequest === 'function';
    const request: UploadRequest = {
      url: this.uploadEndpoint,
      headers: { ...(browser ? {} : this.nodeUploadHeaders()), [CLIENT_TOKEN_HEADER]: this.tokens.token, [EVENT_HANDLER_HEADER]: `${stateName}.${handler}` },
      extraArgs: extraArgs !== undefined && Object.keys(extraArgs).length > 0 ? extraArgs : undefined,
      files: prepared,
      signal: controller.signal,
      progress: new UploadProgressReporter(onProgress),
      maxUpdates: this.maxUploadUpdates,
      maxAnswerChars: this.maxUploadAnswerChars,
      onUpdate: (update) => this.handleUpdate(update),
    };
    try {
      return await (browser ? sendBrowserUpload(request) : sendNodeUpload(request));
    } finally {
      signal?.removeEventListener('abort', forward);
      if (uploadId !== undefined) this.releaseUploadId(uploadId, controller);
    }
  }

  /** Frees `uploadId` if it still names the upload of `controller` (not a newer one started under the same id). */
  private releaseUploadId(uploadId: string, controller: AbortController): void {
    if (this.uploads.get(uploadId) === controller) this.uploads.delete(uploadId);
  }

  /**
   * Aborts the upload in flight under `uploadId` (its `upload()` rejects with an `aborted` error).
   * @returns Whether there was one.
   */
  cancelUpload(uploadId: string): boolean {
    const controller = this.uploads.get(uploadId);
    if (!controller) return false;
    controller.abort(new Error(`cancelUpload("${uploadId}")`));
    return true;
  }

  /**
   * Tells the server the client moved to another page, like an in-app navigation in Reflex: the page used for
   * `router_data` changes and `on_load_internal` is sent (it runs the page's on-load handlers and sets
   * `is_hydrated` again). Offline, the next connection's hydrate sequence does that for the new page, once, with the
   * client storage values the browser holds then (not those of the time of the call). In a
   * browser, changing the address bar (`history.pushState`) is up to the caller.
   * @param page Path with optional query and hash, e.g. `/posts/42?tab=comments`.
   */
  navigate(page: string): void {
    if (typeof page !== 'string' || page.length === 0) throw new TypeError('A page must be a non-empty path.');
    this.page = page;
    this.rootHydrated = false;
    const vars = this.clientStorage?.read();
    if (vars && Object.keys(vars).length > 0) this.send(UPDATE_VARS_INTERNAL_EVENT, { vars });
    this.send(ON_LOAD_INTERNAL_EVENT, {});
  }

  /**
   * The current public vars of one state (the `_rx_state_` marker stripped), e.g. `{count: 3}`, as a fresh
   * object, or `undefined` when the server has not sent that state yet.
   * @param fullName Full state name, e.g. `reflex___state____state.counter_state`.
   */
  state<T extends StateVars = StateVars>(fullName: string): T | undefined {
    return this.store.get<T>(fullName);
  }

  /** The public vars of every known state, keyed by full state name. */
  snapshot(): Record<string, StateVars> {
    return this.store.snapshot();
  }

  /**
   * Listens to one state: `listener(vars, changed)` runs after each delta that touched it, with the state's
   * new public vars and the (marker-stripped) vars that delta carried.
   * @returns A function that removes the listener.
   */
  subscribe<T extends StateVars = StateVars>(fullName: string, listener: StateListener<T>): Unsubscribe {
    let listeners = this.stateListeners.get(fullName);
    if (!listeners) {
      listeners = new ListenerSet<[StateVars, StateVars]>();
      this.stateListeners.set(fullName, listeners);
    }
    const set = listeners;
    const remove = set.add(listener as StateListener);
    return () => {
      remove();
      if (set.size === 0 && this.stateListeners.get(fullName) === set) this.stateListeners.delete(fullName);
    };
  }

  /**
   * Waits until `predicate` holds for a state, checking the current vars first and then after each delta that
   * touches the state.
   * @returns The vars that satisfied the predicate.
   * @throws Error (rejects) after `timeoutMs` with the last known vars in the message, or with what the predicate threw.
   */
  waitFor<T extends StateVars = StateVars>(fullName: string, predicate: (vars: T) => boolean, timeoutMs = 5000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      /** Runs the predicate; settles the promise and returns true when it holds or throws. */
      const evaluate = (vars: T): boolean => {
        try {
          if (!predicate(vars)) return false;
          resolve(vars);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
        return true;
      };
      const current = this.store.get<T>(fullName);
      if (current && evaluate(current)) return;
      const finish = (): void => {
        settled = true;
        unsubscribe();
        clearTimeout(timer);
      };
      const unsubscribe = this.subscribe<T>(fullName, (vars) => {
        if (!settled && evaluate(vars)) finish();
      });
      const timer = startTimeout(() => {
        finish();
        reject(new Error(`waitFor("${fullName}") timed out after ${timeoutMs} ms; last vars: ${describe(this.store.get(fullName))}.`));
      }, timeoutMs);
    });
  }

  /**
   * Listens to the server's structured errors (`bridge_error` messages: `{code, message, event?, details?, status?, retryAfterMs?, payload?}`; a `server_stopping` that carries the event's `payload` is not reported: the event is sent again once reconnected).
   * @returns A function that removes the listener.
   */
  onError(listener: (error: BridgeErrorPayload) => void): Unsubscribe {
    return this.bridgeErrorListeners.add(listener);
  }

  /**
   * Listens to every raw `StateUpdate` the server sends, after its delta was applied to the local state.
   * @returns A function that removes the listener.
   */
  onEvent(listener: (update: StateUpdate) => void): Unsubscribe {
    return this.updateListeners.add(listener);
  }

  /**
   * Listens to every frontend event (names starting with `_`, `_redirect` included) the server sends.
   * @returns A function that removes the listener.
   */
  onClientEvent(listener: (event: ClientEvent) => void): Unsubscribe {
    return this.clientEventListeners.add(listener);
  }

  /**
   * Listens to connection problems: refused or failed attempts, lost connections, timeouts, and session cookie
   * handoffs that failed (`handoff_failed`, reported while the socket stays connected).
   * @returns A function that removes the listener.
   */
  onConnectionError(listener: (error: ConnectionError) => void): Unsubscribe {
    return this.connectionErrorListeners.add(listener);
  }

  /**
   * Listens to status changes (see {@link ConnectionStatus}).
   * @returns A function that removes the listener.
   */
  onStatus(listener: (status: ConnectionStatus) => void): Unsubscribe {
    return this.statusListeners.add(listener);
  }

  /**
   * Listens to token replacements (`new_token` from the server).
   * @returns A function that removes the listener.
   */
  onTokenChange(listener: (token: string) => void): Unsubscribe {
    return this.tokenListeners.add(listener);
  }

  /**
   * Reports a frontend problem to the server (`client_error` message). Nothing is queued: without an open
   * connection the report is dropped.
   * @param errorType Reflex uses `dispatch_function_missing` and `state_update_processing_error`.
   * @returns Whether the report was sent.
   */
  reportClientError(message: string, errorType: string): boolean {
    const socket = this.socket;
    if (!socket?.connected) return false;
    socket.emit(SocketMessage.ClientError, { message, error_type: errorType });
    return true;
  }

  /**
   * Sends a `ping` and waits for the server's `ping` answer. The answer to a ping that timed out, when it comes, is
   * recognised as such (a server answers each ping, in order) and not taken for a later ping's.
   * @returns The round-trip time in milliseconds.
   * @throws ConnectionError (rejects) `not_connected` without an open socket, `timeout` after `timeoutMs`,
   * `disconnect` or `closed` when the connection ends first.
   */
  ping(timeoutMs = 5000): Promise<number> {
    const socket = this.socket;
    if (!socket?.connected) return Promise.reject(new ConnectionError('not_connected', 'ping() needs an open connection.'));
    return new Promise<number>((resolve, reject) => {
      const entry: PendingPing = {
        sentAt: Date.now(),
        resolve,
        reject,
        timer: startTimeout(() => {
          const index = this.pings.indexOf(entry);
          if (index >= 0) this.pings.splice(index, 1);
          if (this.socket === socket) this.latePingAnswers += 1;
          reject(new ConnectionError('timeout', `No ping answer within ${timeoutMs} ms.`));
        }, timeoutMs),
      };
      this.pings.push(entry);
      socket.emit(SocketMessage.Ping);
    });
  }

  /** Opens a new socket (a new Engine.IO connection) with the current token. */
  private open(): void {
    this.setStatus(this.initialAttempt ? 'connecting' : 'reconnecting');
    const extra = this.options.socketOptions ?? {};
    let socket: Socket | undefined = undefined;
    const { maxChars } = this.frameLimits;
    const tooLong = (size: number): void => {
      if (socket && this.socket === socket) this.rejectFrame(`A server message of ${size} characters exceeds frameLimits.maxChars (${maxChars}).`);
    };
    const socketOptions: ReflexSocketOptions = {
      transports: ['websocket'],
      parser: sizeLimitedParser(maxChars, tooLong),
      // In Node (`ws`), the longest frame read at all: `ws` reads up to 100 MiB into memory by default before the
      // parser's check. A message within maxChars characters (and its one-character Engine.IO prefix) takes at most
      // 3 UTF-8 bytes per character, so this refuses only frames the parser would drop anyway; `ws` then ends the
      // connection (close code 1009) and the client reconnects. Browsers ignore it.
      maxPayload: 3 * (maxChars + 1),
      ...extra,
      path: this.path,
      query: { ...(isRecord(extra.query) ? extra.query : {}), token: this.tokens.token, [CLOSING_NOTICE_QUERY]: '1' },
      reconnection: false,
      forceNew: true,
      autoConnect: false,
    };
    socket = io(this.endpoint, socketOptions);
    this.socket = socket;
    if (this.connectTimer === undefined && this.connectTimeoutMs > 0) {
      // A server half up after a restart (its handshake or hydrate never answered) would otherwise hold the tab
      // `reconnecting` or `connected` for good: no error, no new attempt, events queued or sent into the void.
      this.attemptTimer = startTimeout(() => {
        this.attemptTimer = undefined;
        if (this.socket !== socket) return;
        this.handleFailure(new ConnectionError('timeout', `The reconnection was not ready (hydrated) within ${this.connectTimeoutMs} ms.`));
      }, this.connectTimeoutMs);
    }
    socket.on('connect', () => {
      if (this.socket === socket) this.handleConnect(socket);
    });
    // Anything from the server, its heartbeat included, shows the connection was alive after the events sent before.
    const heard = (): void => {
      if (this.socket !== socket) return;
      this.unheard = [];
      this.unheardCount = 0;
    };
    socket.onAny(heard);
    socket.io.on('ping', heard);
    socket.on('connect_error', (error: Error & { data?: unknown }) => {
      if (this.socket !== socket) return;
      this.handleFailure(
        new ConnectionError('connect_error', error?.message || 'The connection attempt failed.', { data: error?.data, cause: error }),
      );
    });
    socket.on('disconnect', (reason: string) => {
      if (this.socket !== socket) return;
      this.handleFailure(new ConnectionError('disconnect', `The connection was lost (${reason}).`, { reason }));
    });
    socket.on(SocketMessage.Event, (update: unknown) => {
      if (this.socket === socket) this.handleUpdate(update);
    });
    socket.on(SocketMessage.NewToken, (token: unknown) => {
      if (this.socket === socket) this.handleNewToken(token);
    });
    socket.on(SocketMessage.BridgeError, (payload: unknown) => {
      if (this.socket === socket && this.withinDepth(payload)) this.handleBridgeError(payload);
    });
    socket.on(SocketMessage.ServerClosing, () => {
      if (this.socket === socket) this.handleServerClosing(socket);
    });
    socket.on(SocketMessage.Ping, () => {
      if (this.socket !== socket) return;
      // The late answer to a ping that timed out: taken for the next one's, it made a slow server look fast.
      if (this.latePingAnswers > 0) {
        this.latePingAnswers -= 1;
        return;
      }
      const entry = this.pings.shift();
      if (!entry) return;
      clearTimeout(entry.timer);
      entry.resolve(Date.now() - entry.sentAt);
    });
    socket.connect();
  }

  /**
   * The server is shutting down and closes this socket once told that nothing more comes on it: the app's next events
   * are queued for the next connection, and the answer follows everything sent before on the same ordered stream, so
   * the server answers all of it before it closes (an event it refused `server_stopping` comes back with its payload
   * and is sent again). Closed without this, a click on its way as the server closed the socket was lost.
   */
  private handleServerClosing(socket: Socket): void {
    if (this.heldWhileClosing !== undefined) return;
    this.heldWhileClosing = 0;
    socket.emit(SocketMessage.ClosingAck);
    this.closingTimer = startTimeout(() => {
      this.closingTimer = undefined;
      if (this.socket === socket) this.handleFailure(new ConnectionError('disconnect', `The server said it would close the connection, and had not ${CLOSING_SOCKET_TIMEOUT_MS} ms later.`));
    }, CLOSING_SOCKET_TIMEOUT_MS);
  }

  /** A socket opened: send the hydrate sequence, then everything that was queued. */
  private handleConnect(socket: Socket): void {
    this.ready = false;
    this.storageRehydrated = false;
    this.rootHydrated = false;
    this.liveSubscriptions.newSocket();
    this.setStatus('connected');
    this.emitEvent(socket, HYDRATE_EVENT, {});
    // The browser's client storage values, between hydrate and on_load_internal (Reflex's order).
    const vars = this.clientStorage?.read();
    if (vars && Object.keys(vars).length > 0) this.emitEvent(socket, UPDATE_VARS_INTERNAL_EVENT, { vars });
    // Queued events go out with the page each was sent on, in order. Those up to the last one sent on a page the tab
    // has left since (a navigate() while offline) go before this page's on-load, as the user did them: after it, the
    // server's router var would end on the page left.
    const page = buildRouterData(this.page).asPath;
    let before = 0;
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i]!.routerData.asPath !== page) {
        before = i + 1;
        break;
      }
    }
    this.flushQueue(socket, before);
    this.emitEvent(socket, ON_LOAD_INTERNAL_EVENT, {});
    this.flushQueue(socket, this.queue.length);
  }

  /** Sends the first `count` queued events (while the socket stays connected). */
  private flushQueue(socket: Socket, count: number): void {
    for (let sent = 0; sent < count && this.queue.length > 0 && socket.connected; sent++) {
      const next = this.queue.shift()!;
      this.queuedChars -= next.chars;
      // A queued hydrate or on-load (a navigate() or a storage event while offline) is the one this connection
      // sends: its router_data is the current page either way. Sent again, it ran the page's on-load handlers twice.
      if (next.name === HYDRATE_EVENT || next.name === ON_LOAD_INTERNAL_EVENT) continue;
      const payload = this.unstale(next);
      if (payload) this.emitEvent(socket, next.name, payload, next.routerData);
    }
  }

  /**
   * The payload to send for a queued event once the hydrate sequence went out, or `undefined` to send nothing. A
   * queued `update_vars_internal` (a `navigate()` or another tab's change while offline) holds the storage values of
   * then: sent after the sequence's own, which holds today's, it left the server with the older ones. Its declared
   * vars are left out (the names it holds that the `clientStorage` option does not declare still go).
   */
  private unstale(event: QueuedEvent): Record<string, unknown> | undefined {
    const vars = event.payload['vars'];
    if (event.name !== UPDATE_VARS_INTERNAL_EVENT || !this.clientStorage || !isRecord(vars)) return event.payload;
    const rest = this.clientStorage.undeclared(vars);
    return Object.keys(rest).length > 0 ? { ...event.payload, vars: rest } : undefined;
  }

  /**
   * The connection was lost with app events written since the server was last heard from: on a connection that died
   * silently (a dropped network path, a sleeping laptop) they went nowhere, and a click was lost without a word.
   * Not sent again: one that did arrive may have run. The app decides (show it, reload the state, resend).
   */
  private reportUnheard({ events, count }: { events: string[]; count: number }): void {
    const listed = events.map((name) => `"${name.slice(0, 200)}"`).join(', ');
    const more = count > events.length ? ` and ${count - events.length} more` : '';
    const message = `${count} event${count === 1 ? '' : 's'} sent since the server was last heard from may not have run (the connection was lost before it answered): ${listed}${more}.`;
    this.connectionErrorListeners.emit(new ConnectionError('events_unconfirmed', message, { data: { events, count } }));
  }

  /** An attempt failed or the connection was lost: report it, then retry, or give up. */
  private handleFailure(error: ConnectionError): void {
    const unheard = this.dropSocket();
    this.rejectPings(error);
    this.connectionErrorListeners.emit(error);
    if (unheard.count > 0) this.reportUnheard(unheard);
    if (!this.wanted) return;
    if (!this.backoff || (this.initialAttempt && !this.reconnectOptions?.retryInitialConnect)) {
      this.stop(error);
      return;
    }
    const delay = this.backoff.recordFailure();
    if (this.backoff.exhausted) {
      const gaveUp = new ConnectionError('gave_up', `Gave up after ${this.backoff.attempts} failed attempts: ${error.message}`, {
        cause: error,
      });
      this.connectionErrorListeners.emit(gaveUp);
      this.stop(gaveUp);
      return;
    }
    this.setStatus('reconnecting');
    // Not past a timer's maximum: a longer wait would be 1 ms, an attempt after each failure without end.
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.wanted && !this.socket) this.open();
    }, Math.min(delay, MAX_TIMER_DELAY_MS));
  }

  /**
   * Applies one server `event` message: delta to the store, then raw listeners, then frontend events.
   * @returns `false` when the message was refused (past a frame limit), so an upload leaves it out of its result.
   */
  private handleUpdate(update: unknown): boolean {
    if (!isRecord(update) || !this.withinDepth(update)) return false;
    const events = update['events'];
    if (Array.isArray(events) && events.length > this.frameLimits.maxEvents) {
      // Each server event would be sent straight back: a broken server must not make the client flood it.
      this.rejectFrame(`A server update with ${events.length} events exceeds frameLimits.maxEvents (${this.frameLimits.maxEvents}).`);
      return false;
    }
    if (isRecord(update['delta'])) this.applyDelta(update['delta'] as Record<string, Record<string, unknown>>);
    this.updateListeners.emit(update as StateUpdate);
    let storageChanged = false;
    if (Array.isArray(events)) for (const event of events) storageChanged = this.handleServerEvent(event) || storageChanged;
    // Once per update, after its other events (where Reflex's client queues it too): one hydrate per storage event
    // made the server send the whole state again per removed key (five keys cleared at logout: five full states).
    if (storageChanged) this.rehydrate();
    return true;
  }

  private applyDelta(delta: Record<string, Record<string, unknown>>): void {
    const touched = this.store.apply(delta);
    this.clientStorage?.write(delta);
    const root = delta[ROOT_STATE_NAME];
    if (isRecord(root) && Object.hasOwn(root, IS_HYDRATED_KEY)) this.rootHydrated = root[IS_HYDRATED_KEY] === true;
    for (const name of touched) {
      const listeners = this.stateListeners.get(name);
      if (!listeners) continue;
      const changed: StateVars = {};
      for (const [key, value] of Object.entries(delta[name]!)) {
        Object.defineProperty(changed, stripFieldMarker(key), { value, enumerable: true, writable: true, configurable: true });
      }
      listeners.emit(this.store.get(name)!, changed);
    }
    if (this.rootHydrated && !this.ready && this.connected) this.markReady();
  }

  private markReady(): void {
    this.clearAttemptTimer();
    this.ready = true;
    this.initialAttempt = false;
    this.backoff?.recordSuccess();
    this.setStatus('ready');
    // After the status listeners: a subscription one of them sent again itself is not sent twice.
    this.resubscribeLiveLists();
    if (this.connectTimer !== undefined) {
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
    }
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve();
  }

  /**
   * Sends again, on a connection that just became ready, the `live_subscribe` of each state the app subscribed on
   * an earlier one (the server ended those subscriptions with their socket), once each, in the order they were
   * first sent. The hydrate sequence ran first, so the server replays the changes since this page load.
   */
  private resubscribeLiveLists(): void {
    const socket = this.socket;
    if (!socket?.connected) return;
    for (const { name, payload } of this.liveSubscriptions.missing()) this.emitEvent(socket, name, payload);
  }

  /**
   * Runs one event from `StateUpdate.events`.
   * @returns Whether it changed the browser's storage (then the update ends with the hydrate sequence again).
   */
  private handleServerEvent(raw: unknown): boolean {
    if (!isRecord(raw) || typeof raw['name'] !== 'string' || raw['name'].length === 0) return false;
    const event: ClientEvent = { name: raw['name'], payload: isRecord(raw['payload']) ? raw['payload'] : {} };
    if (isRecord(raw['router_data'])) event.router_data = raw['router_data'];
    if (!event.name.startsWith('_')) {
      // Reflex sends a backend event found in `events` straight back, with the client's router data. Not as the
      // app's own: a `live_subscribe` the server asked for is not sent again on each new connection (a server naming
      // thousands of states would otherwise have them all sent on every reconnection, for good).
      this.sendOrQueue(event.name, event.payload);
      return false;
    }
    this.clientEventListeners.emit(event);
    if (event.name === '_redirect') {
      const path = event.payload['path'];
      // Never to a URL that runs code: an app's own onRedirect may well assign it to `location.href`.
      if (typeof path === 'string' && !isScriptUrl(path)) this.redirectCallback.emit(path, toRedirectOptions(event.payload));
      return false;
    }
    const handoff = event.name === SESSION_COOKIE_EVENT ? event.payload : event.payload[SESSION_COOKIE_PAYLOAD_KEY];
    if (isRecord(handoff) && (event.name === SESSION_COOKIE_EVENT || event.name === '_call_function')) {
      // The server's cookie handoff: done here, without evaluating the function a Reflex frontend runs for it.
      const { url, secret } = handoff;
      if (typeof url === 'string') this.redeemSessionCookie(url, typeof secret === 'string' ? secret : '');
      return false;
    }
    // A toast or alert that only shows an error: it already reached onError listeners (as `bridge_error`).
    if ((event.name === '_call_function' || event.name === '_call_script') && isRecord(event.payload[BRIDGE_ERROR_PAYLOAD_KEY])) return false;
    const storageChanged = STORAGE_EVENTS.has(event.name) && applyBrowserStorageEvent(event);
    // Clearing the storage the token lives in (Reflex's rx.clear_session_storage, e.g. at logout) must not end the
    // tab's identity: this connection keeps the token, and the next page load has to find it.
    if (storageChanged) this.tokens.persist();
    this.clientEventCallback.emit(event);
    return storageChanged;
  }

  /** After a storage event changed the browser's storage: the hydrate sequence again, as Reflex's client does. */
  private rehydrate(): void {
    // Once per app event or connection: Reflex's client loops when the page's on-load handler clears storage.
    if (this.storageRehydrated) return;
    this.storageRehydrated = true;
    this.rootHydrated = false;
    this.sendOrQueue(HYDRATE_EVENT, {});
    this.sendOrQueue(ON_LOAD_INTERNAL_EVENT, {});
  }

  /**
   * POSTs to the one-time URL that hands the browser its new HttpOnly session cookie, proving it is this tab:
   * the secret that came over this socket and the tab's token go in headers (which a page on another site
   * cannot send without the server approving its CORS preflight).
   */
  private redeemSessionCookie(path: string, secret: string): void {
    const handoff = this.options.sessionCookieHandoff;
    if (handoff === false) return;
    let url: string;
    try {
      url = new URL(path, this.endpoint).href;
    } catch (error) {
      // A malformed URL from the server must not throw out of the socket's message handler.
      this.connectionErrorListeners.emit(new ConnectionError('handoff_failed', `Session cookie handoff failed: invalid URL ${describe(path)}.`, { cause: error }));
      return;
    }
    const headers = { [HANDOFF_SECRET_HEADER]: secret, [CLIENT_TOKEN_HEADER]: this.tokens.token };
    // `include` so a frontend served from another (listed) origin than the server still receives the cookie.
    // Inside a promise: an app's handoff that throws (or returns no promise) is reported like a refused one,
    // instead of throwing out of the socket's message handler.
    const request = Promise.resolve().then(() =>
      handoff
        ? handoff(url, { secret, token: this.tokens.token, headers })
        : globalThis.fetch(url, { method: 'POST', credentials: 'include', headers }).then((response) => {
            if (!response.ok) throw new Error(`HTTP ${response.status}`);
          }),
    );
    request.catch((error: unknown) => {
      this.connectionErrorListeners.emit(new ConnectionError('handoff_failed', `Session cookie handoff failed: ${String(error)}`, { cause: error }));
    });
  }

  /** Whether a server message nests no deeper than `frameLimits.maxDepth`; a deeper one is reported. */
  private withinDepth(message: unknown): boolean {
    if (!nestsDeeperThan(message, this.frameLimits.maxDepth)) return true;
    // What the app does with a value (render it, JSON.stringify it) recurses, and would overflow the stack.
    this.rejectFrame(`A server message nested deeper than frameLimits.maxDepth (${this.frameLimits.maxDepth}) levels.`);
    return false;
  }

  /** A server message past a frame limit was dropped: the app hears of it, the connection stays. */
  private rejectFrame(message: string): void {
    this.connectionErrorListeners.emit(new ConnectionError('frame_too_large', `${message} It was dropped.`));
  }

  private handleNewToken(token: unknown): void {
    // Only a token a server takes back in the handshake query: a megabyte one, or one its token check refuses,
    // would have every later reconnection refused until the page is reloaded.
    if (!isHandshakeToken(token)) return;
    if (this.tokens.replace(token)) this.tokenListeners.emit(token);
  }

  private handleBridgeError(payload: unknown): void {
    if (!isRecord(payload)) return;
    const error: BridgeErrorPayload = {
      code: typeof payload['code'] === 'string' ? payload['code'] : 'unknown',
      message: typeof payload['message'] === 'string' ? payload['message'] : '',
    };
    if (typeof payload['event'] === 'string') error.event = payload['event'];
    // Not `String()`: a detail such as `{"toString": 1}` makes it throw, out of the socket's message handler (in Node,
    // an uncaught exception that ends the process). A detail that is not text is shown as its JSON.
    if (Array.isArray(payload['details'])) error.details = payload['details'].map((detail) => (typeof detail === 'string' ? detail : describe(detail)));
    if (typeof payload['status'] === 'number') error.status = payload['status'];
    if (typeof payload['retryAfterMs'] === 'number') error.retryAfterMs = payload['retryAfterMs'];
    if (error.code === 'server_stopping' && error.event !== undefined && isRecord(payload['payload'])) {
      this.sendAfterReconnect(error.event, payload['payload']);
      return;
    }
    this.bridgeErrorListeners.emit(error);
  }

  /**
   * The server refused an event because it is shutting down (a restart, a deploy), and sent its payload back: it did
   * not run it, so it is queued, as it was, for the next connection (the server closes this one once its drain ends),
   * and not reported. Before, the user's click was lost, with an error, on every restart. The server refuses what a
   * tab sends from the first such refusal on, so the queue keeps the order the user clicked in. The hydrate sequence
   * and live subscriptions are not queued: every new connection sends them itself.
   */
  private sendAfterReconnect(name: string, payload: Record<string, unknown>): void {
    if (name === HYDRATE_EVENT || name === ON_LOAD_INTERNAL_EVENT || name === UPDATE_VARS_INTERNAL_EVENT || this.liveSubscriptions.restores(name)) return;
    let chars: number;
    try {
      chars = serializedLength(name, payload);
    } catch {
      return;
    }
    if (this.queue.length < this.maxQueuedEvents && this.queuedChars + chars <= this.maxQueuedChars) {
      // Before the events the app sent after the server said it closes the socket: the user clicked those later.
      this.queue.splice(this.queue.length - (this.heldWhileClosing ?? 0), 0, { name, payload, chars, routerData: buildRouterData(this.page) });
      this.queuedChars += chars;
    } else this.refuseQueued(name);
  }

  private emitEvent(socket: Socket, name: string, payload: Record<string, unknown>, routerData: RouterData = buildRouterData(this.page)): void {
    const event: OutboundEvent = { name, payload, router_data: routerData };
    this.liveSubscriptions.sent(name);
    socket.emit(SocketMessage.Event, event);
    // The hydrate sequence is sent again by the next connection itself.
    if (name === HYDRATE_EVENT || name === ON_LOAD_INTERNAL_EVENT || name === UPDATE_VARS_INTERNAL_EVENT) return;
    // Held unsent (the heartbeat overdue): queued again when the socket is dropped, so not lost. Told apart here, not
    // only at the drop, where those past the first MAX_UNHEARD_LISTED were counted as lost.
    if (socket.sendBuffer.at(-1)?.data?.[1] === event) return;
    this.unheardCount += 1;
    // The name only: a payload (a file as base64) kept until the server is heard from, up to 45 s on a dead connection.
    if (this.unheard.length < MAX_UNHEARD_LISTED) this.unheard.push(name);
  }

  /**
   * In Node, the headers the socket sends (`socketOptions.extraHeaders`: a `Cookie`, an `Origin`) go with uploads
   * too, so the server sees the same session and origin; those the upload sets itself are left out.
   */
  private nodeUploadHeaders(): Record<string, string> {
    const extra = this.options.socketOptions?.extraHeaders;
    const headers: Record<string, string> = {};
    if (!isRecord(extra)) return headers;
    const reserved = new Set(['content-type', 'content-length', 'transfer-encoding', 'host', 'connection', CLIENT_TOKEN_HEADER.toLowerCase(), EVENT_HANDLER_HEADER.toLowerCase()]);
    for (const [name, value] of Object.entries(extra)) {
      if (typeof value === 'string' && !reserved.has(name.toLowerCase())) headers[name] = value;
    }
    return headers;
  }

  /** Ends everything: no socket, no timers, status `disconnected`; a pending `connect()` rejects with `error`. */
  private stop(error: ConnectionError): void {
    this.wanted = false;
    this.unwatchStorage?.();
    this.unwatchStorage = undefined;
    this.initialAttempt = false;
    if (this.reconnectTimer !== undefined) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
    if (this.connectTimer !== undefined) {
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
    }
    this.dropSocket();
    this.rejectPings(error);
    this.setStatus('disconnected');
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }

  /**
   * Detaches and closes the current socket, if any.
   * @returns The app's events it wrote since the server was last heard from (not those it held unsent, queued again,
   * nor the live_subscribes sent again on the next connection), and how many there were.
   */
  private dropSocket(): { events: string[]; count: number } {
    this.clearAttemptTimer();
    const socket = this.socket;
    this.socket = undefined;
    this.ready = false;
    this.rootHydrated = false;
    // Answers owed on that socket never come on the next one.
    this.latePingAnswers = 0;
    this.heldWhileClosing = undefined;
    if (this.closingTimer !== undefined) {
      clearTimeout(this.closingTimer);
      this.closingTimer = undefined;
    }
    const unheard = this.unheard;
    let count = this.unheardCount;
    this.unheard = [];
    this.unheardCount = 0;
    if (!socket) return { events: [], count: 0 };
    // Those Socket.IO held unsent were never counted (see emitEvent): they are queued again.
    this.requeueUnsent(socket);
    // Not lost either: the app's live_subscribes, sent again once the next connection is ready (reported, the user
    // was told a subscription the client restores itself may not have run).
    const events = unheard.filter((name) => !this.liveSubscriptions.restores(name));
    count -= unheard.length - events.length;
    socket.offAny();
    socket.io.off('ping');
    socket.off();
    socket.disconnect();
    return { events, count };
  }

  /**
   * Puts back at the head of the queue the events a socket held unsent. Socket.IO keeps an emit in the socket's
   * `sendBuffer`, instead of writing it, when the socket still reads `connected` but its heartbeat is long overdue
   * (a laptop waking from sleep, a throttled background tab), then closes it; that buffer is only flushed if the same
   * socket reconnects, and this client opens a new one, so the user's click was lost without a word.
   */
  private requeueUnsent(socket: Socket): void {
    const unsent: QueuedEvent[] = [];
    for (const packet of socket.sendBuffer.splice(0)) {
      const data: unknown = packet.data;
      if (!Array.isArray(data) || data[0] !== SocketMessage.Event || !isRecord(data[1])) continue;
      const { name, payload, router_data: routerData } = data[1];
      if (typeof name !== 'string' || !isRecord(payload)) continue;
      // It was encodable when emitted, so its length is too.
      unsent.push({ name, payload, chars: serializedLength(name, payload), routerData: isRecord(routerData) ? (routerData as unknown as RouterData) : buildRouterData(this.page) });
    }
    if (unsent.length === 0) return;
    this.queue.unshift(...unsent);
    for (const event of unsent) this.queuedChars += event.chars;
  }

  private clearAttemptTimer(): void {
    if (this.attemptTimer === undefined) return;
    clearTimeout(this.attemptTimer);
    this.attemptTimer = undefined;
  }

  private rejectPings(error: Error): void {
    for (const entry of this.pings.splice(0)) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.currentStatus === status) return;
    this.currentStatus = status;
    this.statusListeners.emit(status);
  }
}
