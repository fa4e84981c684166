import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { BridgeError, type BridgeErrorCode, type BridgeErrorPayload } from '../protocol/bridge-error.js';
import { isClientToken, MAX_CLIENT_TOKEN_CHARS } from '../protocol/client-token.js';
import type { RouterData } from '../protocol/inbound-event.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { pathPrefixOf } from '../health/reflex-routes.options.js';
import { closeAfterAnswer, closeIfBodyUnread } from '../security/lingering-close.js';
import { StateRegistry } from '../state/state-registry.service.js';
import type { HandlerDefinition } from '../state/state-definition.js';
import { StateStore, type StoredState } from '../state/store/state-store.js';
import { UnknownClientTokenError } from '../state/unknown-client-token.error.js';
import { BridgeRunner, type BridgeOutcome } from '../bridge/bridge-runner.service.js';
import { OriginPolicy } from '../security/origin-policy.js';
import { allowCrossOrigin, answerPlainOptions, approvePreflight } from '../security/cross-origin-headers.js';
import { TokenOwnership } from '../security/token-ownership.service.js';
import { EventRateLimiter } from '../security/event-rate-limiter.service.js';
import { addressKeyingOf, requestAddressKey, type AddressKeying } from '../security/client-address.js';
import { CLIENT_TOKEN_HEADER } from '../bridge/session/cookie-handoff.route.js';
import { EventPipeline } from '../pipeline/event-pipeline.service.js';
import { EventGateway } from '../gateway/event.gateway.js';
import { SessionTracker } from '../gateway/session-tracker.service.js';
import { mergeSetCookies } from '../bridge/request/cookie-header.js';
import type { EventClient } from '../common/event-client.js';
import { OutageLog } from '../common/outage-log.js';
import { pathAfterRoute } from '../common/path-after-route.js';
import { undecodedRoutePath } from '../common/undecoded-route-path.js';
import { BridgeMetrics } from '../metrics/bridge-metrics.service.js';
import type { ResolvedUploadOptions } from './upload.options.js';
import { UploadAbortedError, UploadError, type UploadErrorBody } from './upload.error.js';
import { closesConnection, declaredBodyTooLarge, isIdleTimeout, parseBufferedUpload, shutdownRefusal, streamUpload, type BufferedUpload, type TextFieldCharge } from './multipart-upload.parser.js';
import { UploadUpdateStream, NDJSON_CONTENT_TYPE, type UploadClientIdentity } from './upload-update.stream.js';
import { UploadedFileServer } from './uploaded-file-server.js';
import { UploadTabClient } from './upload-tab.client.js';
import { UploadSlots } from './upload-slots.js';
import { UploadArgsBudget } from './upload-args-budget.js';
import { ExpectContinueGate } from './expect-continue.gate.js';
import { TempDiskBudget } from './temp-disk-budget.js';
import { TempDirectoryOutage } from './temp-directory-outage.js';
import { logText } from '../common/log-text.js';
import { RepeatedErrorLog } from '../common/repeated-error-log.js';
import { uploadRetryAfterSeconds } from './upload-retry-after.js';

/** The request header naming the handler, by its full name as events name it (Reflex's). @publicApi */
export const UPLOAD_HANDLER_HEADER = 'reflex-event-handler';

/** Reflex's own answer to a request without either header. */
const MISSING_HEADERS = 'Missing reflex-client-token or reflex-event-handler header.';
/** Longest handler name read from the header: full names are far shorter. */
const MAX_HANDLER_NAME_CHARS = 512;

/**
 * Which of an upload's two headers, both sent, is longer than anything it may hold, as a sentence naming it and its
 * length; undefined when both are within their lengths. Such a header was answered with Reflex's "Missing ..."
 * message, which sent the client's developer looking for a header that was there.
 */
function overlongHeader(token: string, handler: string): string | undefined {
  if (token.length > MAX_CLIENT_TOKEN_CHARS) return `The reflex-client-token header has ${token.length} characters: a client token has 8 to ${MAX_CLIENT_TOKEN_CHARS} letters, digits, "-" or "_".`;
  if (handler.length > MAX_HANDLER_NAME_CHARS) return `The reflex-event-handler header has ${handler.length} characters: a handler's full name has at most ${MAX_HANDLER_NAME_CHARS}.`;
  return undefined;
}

/** Longest `Access-Control-Request-Headers` whose names a preflight allows: far beyond a real upload's few headers. */
const MAX_REQUESTED_HEADERS_CHARS = 1024;
/** An HTTP header name (RFC 9110 token), lowercased. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/**
 * The request headers an upload's CORS preflight allows: Reflex's two and `content-type`, and whatever other header
 * names the browser asks for. A Reflex app may add its own (`rx.upload_files(extra_headers=...)`), which Reflex's
 * backend allows (`allow_headers=["*"]`); refusing them made the browser drop the upload. Only listed origins get
 * this answer, and they are trusted with the upload itself.
 */
function preflightAllowedHeaders(req: IncomingMessage): string {
  const names = new Set<string>([CLIENT_TOKEN_HEADER, UPLOAD_HANDLER_HEADER, 'content-type']);
  const requested = req.headers['access-control-request-headers'];
  if (typeof requested === 'string' && requested.length <= MAX_REQUESTED_HEADERS_CHARS) {
    for (const raw of requested.split(',')) {
      const name = raw.trim().toLowerCase();
      if (HEADER_NAME.test(name)) names.add(name);
    }
  }
  return [...names].join(', ');
}

/**
 * The HTTP status each error code stands for, when the error carries none: every code of the protocol, so a code added
 * there fails to compile here until its upload answer is chosen (`session_unavailable` was missing, and a frozen session
 * store's refusal went out as a 500 and was logged as the app's failure).
 */
const STATUS_OF_CODE: Record<BridgeErrorCode, number> = {
  invalid_event: 400,
  invalid_payload: 400,
  no_token: 400,
  unauthorized: 401,
  forbidden: 403,
  unknown_handler: 404,
  upload_idle_timeout: 408,
  state_lock_lost: 409,
  state_too_large: 413,
  payload_too_large: 413,
  upload_too_large: 413,
  upload_too_many_files: 413,
  upload_args_too_large: 413,
  rate_limited: 429,
  busy: 429,
  handler_error: 500,
  session_unavailable: 503,
  state_unavailable: 503,
  state_outcome_unknown: 503,
  server_stopping: 503,
  upload_storage_unavailable: 503,
  upload_storage_full: 507,
};

/** What a settled promise that is not a failure races as (see the streaming mode). */
function noFailure(): undefined {
  return undefined;
}

function flattenHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

function answer(res: ServerResponse, status: number, body: UploadErrorBody | Record<string, never>, contentType = 'application/json'): void {
  if (res.headersSent || res.destroyed) return;
  res.statusCode = status;
  // A refusal worth sending again later says when (a handler's rate limit already set its own wait): our client
  // gives it as `retryAfterMs`. Before, the 503 and 507 of a failing temp disk said nothing of it.
  const retryAfter = res.hasHeader('Retry-After') ? undefined : uploadRetryAfterSeconds(body);
  if (retryAfter !== undefined) res.setHeader('Retry-After', String(retryAfter));
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Type', contentType);
  res.end(`${JSON.stringify(body)}${contentType === NDJSON_CONTENT_TYPE ? '\n' : ''}`);
}

/**
 * A refusal before the body is read (on the request's headers, the token, the tier): the connection closes once it is
 * answered when a body is still arriving, instead of Node reading and dropping it until its `requestTimeout` (300 s).
 */
function refuse(res: ServerResponse, keying: AddressKeying, status: number, body: UploadErrorBody): void {
  if (!res.headersSent && !res.destroyed) closeIfBodyUnread(res, keying);
  answer(res, status, body);
}

/** What a failure is answered with: its status and structured body, `undefined` when nobody is left to answer. */
function failureAnswer(error: unknown, production: boolean): { status: number; body: UploadErrorBody } | undefined {
  if (error instanceof UploadAbortedError) return undefined;
  if (error instanceof UploadError) return { status: error.status, body: error.toBody() };
  if (error instanceof UnknownClientTokenError) return { status: 410, body: { detail: 'No client state exists for this token: reload the page.', code: 'unknown_token' } };
  if (error instanceof BridgeError) return { status: error.status ?? (STATUS_OF_CODE as Partial<Record<string, number>>)[error.code] ?? 500, body: { detail: error.message, code: error.code } };
  const detail = production ? 'An error occurred while handling the upload.' : `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? String(error)}`;
  return { status: 500, body: { detail, code: 'handler_error' } };
}

/**
 * Reflex's upload endpoint, `POST <prefix>/_upload` (the prefix of the event `path`, as for `/ping`), and the
 * files the app stored, `GET <prefix>/_upload/<path>` ({@link UploadedFileServer}). Registered on the HTTP adapter
 * when `uploads` is not `false`, with the event channel's origin policy and CORS (`corsOrigins`).
 *
 * A `multipart/form-data` request with `Reflex-Client-Token` and `Reflex-Event-Handler` headers calls that handler,
 * which must have an upload parameter. In order, before any byte of the body is read: a worker shutting down (503
 * `server_stopping`, with `Retry-After`), the client address's budget of form text, `uploads.eventArgsPerAddress` (429
 * `rate_limited`, with `Retry-After`; each text field is charged to it once read, before it is scanned), its
 * `uploads.maxConcurrentPerAddress` (429 `too_many_uploads`, with `Retry-After`), the worker's
 * `uploads.maxConcurrent` (503 `uploads_busy`, with `Retry-After`), the origin (403), the
 * headers (400 `upload_headers_missing`, Reflex's message for a missing one), the handler (404 `upload_not_accepted`), the content type (415), the token
 * (410 `unknown_token` when it has no state), then the handler's tier on this very request (at least `auth_only`:
 * the auth middleware with the request's own cookies; on `full` all middleware and the handler's guards), and a
 * token bound to another session (403). Then:
 * - buffered (`@EventUploads()`): the whole form is read into temp files, the handler runs on the token's queue
 *   under its state lock, and the answer is `200 application/x-ndjson`, one `{"delta": …}` line per delta, the
 *   last `"final": true`. Temp files are removed when the handler ends, whatever happens.
 * - streaming (`@EventUploadChunks()`): the handler starts at the first file part and reads chunks as they
 *   arrive; the answer is `202 {}` once the request was read and the handler ended. Deltas go over the socket.
 * A client that goes away cancels the upload: the form is no longer read, a streaming handler's loop throws
 * `UploadAbortedError`, and nothing of the upload stays on disk. A client that stops sending for `uploads.idleTimeoutMs`
 * ends it the same way, answered `408 upload_idle_timeout` (a streaming handler's loop throws that error and its signal
 * fires with it), and its connection is closed.
 * @publicApi
 */
@Injectable()
export class UploadRoute implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('ReflexBridge');
  /** The state store's outages as uploads meet them, logged once each. */
  private readonly storeOutage = new OutageLog(this.logger, 'The state store (for uploads)');
  /**
   * The app's middleware chain not settling within `bridge.middlewareTimeoutMs` on uploads' requests (a session store
   * that stopped answering, most often): logged once per outage, not with a stack per refused upload.
   */
  private readonly sessionOutage = new OutageLog(this.logger, 'The session (the middleware chain of uploads\' tiers)');
  /** The temp directory's file system failing uploads (full, read-only): logged once, not per refused upload. */
  private readonly tempDirectoryOutage = new TempDirectoryOutage(this.logger);
  /** `<prefix>/_upload`. */
  readonly path: string;
  /** The uploads in progress, on the worker and per client address; undefined when uploads are off. */
  private readonly slots: UploadSlots | undefined;
  /** The form text each address's uploads may send (`uploads.eventArgsPerAddress`); undefined when off. */
  private readonly argsBudget: UploadArgsBudget | undefined;
  /**
   * Addresses refused for `uploads.eventArgsPerAddress`: a warning for the first refusal of each, at most one per address
   * and five in all a minute (the rest counted in the next line): many addresses can spend their budgets.
   */
  private readonly argsBudgetLog = new RepeatedErrorLog({ perKind: 1, perWindow: 5, windowMs: 60_000 });
  /** The bytes this worker's buffered uploads hold in the temp directory (`uploads.maxTempBytes`). */
  private readonly tempDisk: TempDiskBudget;
  /** The first refusal for `uploads.maxConcurrent` until an upload ends is logged; the rest would flood the log. */
  private busyLogged = false;
  /**
   * Addresses refused for `uploads.maxConcurrentPerAddress` since one of their uploads last ended: logged once each.
   * Only addresses holding uploads are refused for it, and each leaves once one of them ends, so this stays small.
   */
  private readonly addressesLogged = new Set<string>();
  /**
   * Answers cut off for being left unread past `maxOutboundBytes`: a warning each, as a socket cut off for it gets, but
   * at most one per handler and five in all a minute (the rest counted in the next line): one client can repeat it.
   */
  private readonly unreadAnswerLog = new RepeatedErrorLog({ perKind: 1, perWindow: 5, windowMs: 60_000 });
  /** The uploads past their checks, until they end: those whose body is still arriving are refused at shutdown. */
  private readonly underWay = new Map<AbortController, IncomingMessage>();
  /** Uploads from their arrival (past the caps) until they ended: the shutdown drain waits for them. */
  private arrived = 0;
  /** Resolved once no upload is in progress: the drain waiting for {@link arrived} to reach 0. */
  private whenNoneInProgress: Array<() => void> = [];
  /** The app is shutting down: new uploads are refused `server_stopping`; those under way go on, within the grace. */
  private stopping = false;
  /** `shutdownGraceMs` ran out (or the app closes without a drain): uploads whose body still arrives are refused. */
  private refusingArriving = false;
  /** Holds back `100 Continue` for this route's requests until their checks passed (see {@link ExpectContinueGate}). */
  private readonly continueGate = new ExpectContinueGate((req) => req.method === 'POST' && isRoutePath(pathAfterRoute(req, this.path)));

  /** How a request's client address is keyed, for the per-address limits and the lingering close's share. */
  private readonly keying: AddressKeying;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly registry: StateRegistry,
    private readonly store: StateStore,
    private readonly bridge: BridgeRunner,
    private readonly pipeline: EventPipeline,
    private readonly gateway: EventGateway,
    private readonly origins: OriginPolicy,
    private readonly ownership: TokenOwnership,
    private readonly files: UploadedFileServer,
    private readonly rateLimiter: EventRateLimiter,
    private readonly sessions: SessionTracker,
    private readonly metrics: BridgeMetrics,
  ) {
    this.path = `${pathPrefixOf(options.path)}/_upload`;
    this.keying = addressKeyingOf(options);
    this.slots = options.uploads && new UploadSlots(options.uploads.maxConcurrent, options.uploads.maxConcurrentPerAddress);
    const argsWindow = options.uploads ? options.uploads.eventArgsPerAddress : undefined;
    this.argsBudget = argsWindow && new UploadArgsBudget(argsWindow);
    this.tempDisk = new TempDiskBudget(options.uploads ? options.uploads.maxTempBytes : 0);
  }

  onModuleInit(): void {
    // The shutdown lets the uploads under way finish within shutdownGraceMs, as it does the running events; one whose
    // body still arrives after it is refused (a client sending a byte now and then must not hold the shutdown).
    this.pipeline.onStop(() => this.drain());
    this.pipeline.onGraceOver(() => this.beforeApplicationShutdown());
    const adapter = this.adapterHost.httpAdapter;
    const limits = this.options.uploads;
    const slots = this.slots;
    if (!adapter || !limits || !slots) return;
    if (this.continueGate.install(adapter.getHttpServer() as Server | undefined) === 'app-handles-it') {
      this.logger.log('The app answers Expect: 100-continue itself (it listens for checkContinue): uploads get its answer, not one held until their checks passed.');
    }
    adapter.options(this.path, (req: IncomingMessage, res: ServerResponse) => this.preflight(req, res));
    adapter.post(this.path, (req: IncomingMessage, res: ServerResponse) => {
      if (this.stopping) {
        this.refuseStopping(req, res);
        return;
      }
      // The caps, before anything else is spent on the request: one address must not hold every slot of the worker
      // (its per-address share), and many addresses at once (which a proxy's per-address limit lets through) must
      // not hold temp disk and open requests without bound (the worker's cap).
      const address = this.addressOf(req);
      // An address that spent its budget of form text is refused first, before its body is read (or anything else
      // done for it): scanning its arguments is what it would cost the thread every client shares.
      const argsWait = this.argsBudget?.refusedForMs(address) ?? 0;
      if (argsWait > 0) {
        this.refuseArgsBudget(req, res, address, argsWait);
        return;
      }
      const slot = slots.acquire(address);
      if (slot === 'address') {
        this.refuseAddress(req, res, address, limits.maxConcurrentPerAddress);
        return;
      }
      if (slot === 'worker') {
        this.refuseBusy(req, res, limits.maxConcurrent);
        return;
      }
      // Refusals before the body (tier, token, session) arrive here as errors; anything else is a bug, logged.
      this.arrived += 1;
      this.upload(req, res, limits, address)
        .catch((error: unknown) => {
          const failure = failureAnswer(error, this.options.production);
          // A refusal (a BridgeError) is answered, not logged with a stack: one from an outage (the state store, the
          // session store) was logged once for it where it was met, as the event path does.
          if (!(error instanceof BridgeError) && (!failure || failure.status >= 500)) this.logger.error(`An upload failed: ${(error as Error)?.stack ?? String(error)}`);
          if (failure) refuse(res, this.keying, failure.status, failure.body);
          else if (!res.writableEnded) res.destroy();
        })
        // Every end comes here (answered, refused, failed, cancelled, timed out, the client gone): upload() settles
        // only once its handler ended and its temp files were removed. A body refused mid-way whose rest is still
        // read and dropped (up to the body's bound) keeps its slot until that ended: it was free before, and one
        // address opening connection after connection made the worker read about 1 GiB each, its share unspent.
        .finally(() => {
          this.uploadEnded();
          afterBodyEnded(req, () => {
            slot.release();
            this.busyLogged = false;
            this.addressesLogged.delete(address);
          });
        });
    });
    const filesPrefix = `${this.path}/`;
    // The path is decoded by the file server, not by Express: a malformed escape in it is a 404, not Express's 400.
    adapter.get(undecodedRoutePath(filesPrefix, 'rest'), (req: IncomingMessage, res: ServerResponse) => {
      // A GET has no body: one sent anyway is not read on.
      closeIfBodyUnread(res, this.keying);
      // Undefined only if a rewrite changed the URL after routing: then nothing is served (an empty path is a 404).
      void this.files.serve(req, res, pathAfterRoute(req, filesPrefix) ?? '');
    });
  }

  /**
   * Once the shutdown drain's `shutdownGraceMs` ran out (or, for an app without the drain, when Nest calls this hook),
   * before Nest closes the HTTP server, which waits for every request in progress: an upload whose body is still
   * arriving is refused `503 uploads_busy` (with `Retry-After`, its connection closed, its temp files removed).
   * Otherwise a client that sends a byte now and then held `app.close()` until Node's `requestTimeout` (300 s), past
   * any process manager's stop timeout, whose kill then left its temp files behind. Uploads whose body has arrived
   * (their handler at work) are left to finish: the store is still open.
   */
  beforeApplicationShutdown(): void {
    // Called first when the drain's shutdownGraceMs ran out (see onModuleInit), else by Nest.
    this.stopping = true;
    if (this.refusingArriving) return;
    this.refusingArriving = true;
    let refused = 0;
    for (const [cancel, req] of this.underWay) {
      if (req.complete) continue;
      cancel.abort(shutdownRefusal());
      refused += 1;
    }
    if (refused > 0) this.logger.log(`Shutting down: refused ${refused} upload(s) whose body was still arriving (503 uploads_busy, to try again).`);
  }

  /**
   * The shutdown began: uploads arriving from now on are refused `server_stopping`; those in progress go on (their
   * body, then their handler). Resolves once they all ended; the drain waits for that within `shutdownGraceMs`.
   */
  private drain(): Promise<void> | undefined {
    this.stopping = true;
    if (this.arrived === 0) return undefined;
    return new Promise<void>((resolve) => this.whenNoneInProgress.push(resolve));
  }

  /** An upload ended (answered, refused, failed or cancelled, its handler done). */
  private uploadEnded(): void {
    this.arrived -= 1;
    if (this.arrived > 0) return;
    const waiting = this.whenNoneInProgress;
    this.whenNoneInProgress = [];
    for (const resolve of waiting) resolve();
  }

  /**
   * Uploads this worker has accepted and not yet finished (from the request's arrival until it was answered and its
   * handler ended); at most `uploads.maxConcurrent`.
   */
  get inProgress(): number {
    return this.slots?.inProgress ?? 0;
  }

  /**
   * The key a request's uploads count under for `uploads.maxConcurrentPerAddress`: its client address as handler
   * rate limits key it (the peer address, or with `bridge.trustProxy` the last `X-Forwarded-For` entry; an IPv6
   * address grouped by `rateLimit.ipv6SubnetPrefix`).
   */
  private addressOf(req: IncomingMessage): string {
    return requestAddressKey(req, this.keying);
  }

  /**
   * `address` has `uploads.maxConcurrentPerAddress` uploads in progress: refused before the body is read, which is
   * not waited for either, as for {@link refuseBusy}; the worker's other clients are not affected.
   */
  private refuseAddress(req: IncomingMessage, res: ServerResponse, address: string, max: number): void {
    if (!this.addressesLogged.has(address)) {
      this.addressesLogged.add(address);
      // Cut short and escaped: with bridge.trustProxy a client that bypasses the proxy writes its own X-Forwarded-For.
      this.logger.warn(`Refusing uploads from ${logText(address, 64)}: it has ${max} in progress on this worker (uploads.maxConcurrentPerAddress). Logged once until one of them ends.`);
    }
    allowCrossOrigin(this.origins, req, res);
    closeAfterAnswer(res, this.keying);
    answer(res, 429, { detail: `Too many uploads from your address are in progress; try again once one has finished.`, code: 'too_many_uploads', limit: max });
  }

  /**
   * `address` spent its budget of form text (`uploads.eventArgsPerAddress`): refused before the body is read, which is
   * not waited for either, as for {@link refuseAddress}, with `Retry-After` when the budget has room again.
   */
  private refuseArgsBudget(req: IncomingMessage, res: ServerResponse, address: string, waitMs: number): void {
    this.reportArgsBudget(address);
    allowCrossOrigin(this.origins, req, res);
    closeAfterAnswer(res, this.keying);
    res.setHeader('Retry-After', String(Math.ceil(waitMs / 1000)));
    answer(res, 429, argsBudgetRefusal(waitMs).toBody());
  }

  /**
   * What charges an upload's text fields from `address` to its budget, setting `res`'s `Retry-After` when it refuses
   * one (the refusal becomes the upload's answer; the rest of its body is not read).
   */
  private textFieldCharge(address: string, res: ServerResponse): TextFieldCharge | undefined {
    const budget = this.argsBudget;
    if (budget === undefined) return undefined;
    return (characters) => {
      const waitMs = budget.charge(address, characters);
      if (waitMs === 0) return undefined;
      this.reportArgsBudget(address);
      if (!res.headersSent) res.setHeader('Retry-After', String(Math.ceil(waitMs / 1000)));
      return argsBudgetRefusal(waitMs);
    };
  }

  /** A warning for an address refused for its budget of form text, within {@link argsBudgetLog}'s bounds. */
  private reportArgsBudget(address: string): void {
    const verdict = this.argsBudgetLog.take(address);
    if (!verdict.log) return;
    const window = this.argsBudget!.window;
    const notLogged = verdict.notLoggedBefore > 0 ? ` (${verdict.notLoggedBefore} more refusals since the last such line were not logged)` : '';
    // Cut short and escaped: with bridge.trustProxy a client that bypasses the proxy writes its own X-Forwarded-For.
    this.logger.warn(
      `Refusing uploads from ${logText(address, 64)}: its uploads spent its budget of form text on this worker (uploads.eventArgsPerAddress: ${window.limit} units of 8,192 characters per ${window.ttlMs} ms).${notLogged}`,
    );
  }

  /** The worker is at `uploads.maxConcurrent`: refused before the body is read, which is not waited for either. */
  private refuseBusy(req: IncomingMessage, res: ServerResponse, max: number): void {
    if (!this.busyLogged) {
      this.busyLogged = true;
      this.logger.warn(`Refusing uploads: ${max} are in progress on this worker (uploads.maxConcurrent). Logged once until one ends.`);
    }
    // The same CORS headers as any answer, so a frontend on a listed origin can read the refusal.
    allowCrossOrigin(this.origins, req, res);
    // The body is not read: the connection closes once the answer is sent (lingering) instead of draining it.
    closeAfterAnswer(res, this.keying);
    answer(res, 503, { detail: `The server is handling too many uploads; try again shortly.`, code: 'uploads_busy', limit: max });
  }

  /**
   * The app began shutting down: an upload arriving now is refused before anything is spent on it, as the tab's
   * events and handshakes are (`server_stopping`, with `Retry-After`: behind a proxy the retry reaches another
   * worker). Before, it read its token's state and ran its tier (the session store) during the drain, only to be
   * refused `uploads_busy` as an upload cut off mid-body is.
   */
  private refuseStopping(req: IncomingMessage, res: ServerResponse): void {
    allowCrossOrigin(this.origins, req, res);
    closeAfterAnswer(res, this.keying);
    answer(res, 503, { detail: 'The server is shutting down; send the upload again (to another worker, or to this one restarted).', code: 'server_stopping' });
  }

  /** The CORS preflight of a frontend on a listed origin (the upload's custom headers, and the app's, need one). */
  private preflight(req: IncomingMessage, res: ServerResponse): void {
    // A preflight has no body; one that sends one anyway is not read on.
    closeIfBodyUnread(res, this.keying);
    if (approvePreflight(this.origins, req, res, preflightAllowedHeaders(req)) || answerPlainOptions(this.origins, req, res, 'OPTIONS, POST')) return;
    answer(res, 403, { detail: 'Requests from this origin are not allowed here.', code: 'forbidden' });
  }

  /** One upload, from its headers to its answer; `address` is its client's, as its caps count it. */
  private async upload(req: IncomingMessage, res: ServerResponse, limits: ResolvedUploadOptions, address: string): Promise<void> {
    const verdict = this.origins.check(req);
    if (!verdict.allowed) {
      this.origins.reportRefusal(verdict, 'an upload');
      refuse(res, this.keying, 403, { detail: 'Requests from this origin are not allowed here.', code: 'forbidden' });
      return;
    }
    allowCrossOrigin(this.origins, req, res);
    const token = req.headers[CLIENT_TOKEN_HEADER];
    const name = req.headers[UPLOAD_HANDLER_HEADER];
    if (typeof token !== 'string' || token === '' || typeof name !== 'string' || name === '') {
      refuse(res, this.keying, 400, { detail: MISSING_HEADERS, code: 'upload_headers_missing' });
      return;
    }
    const overlong = overlongHeader(token, name);
    if (overlong !== undefined) {
      refuse(res, this.keying, 400, { detail: overlong, code: 'upload_headers_missing' });
      return;
    }
    const handler = this.registry.findHandler(name);
    if (!handler?.upload) {
      const detail = handler ? `${name} takes no upload: give it an @EventUploads() or @EventUploadChunks() parameter.` : `No event handler is registered as "${name.slice(0, 200)}".`;
      refuse(res, this.keying, 404, { detail, code: 'upload_not_accepted' });
      return;
    }
    if (!/^multipart\/form-data\s*;/i.test(req.headers['content-type'] ?? '')) {
      refuse(res, this.keying, 415, { detail: 'An upload is a multipart/form-data request.', code: 'upload_not_multipart' });
      return;
    }
    // An upload never creates state: the token is one a tab hydrated. Read without the lock: the handler's
    // lease checks again.
    const state = isClientToken(token) ? await this.readState(token) : null;
    if (state === null) throw new UnknownClientTokenError('unknown');

    const socket = this.gateway.clientFor(token);
    const identity: UploadClientIdentity = { token, sid: socket?.sid ?? '', headers: flattenHeaders(req.headers), remoteAddress: req.socket.remoteAddress ?? '' };
    const routerData: RouterData = {
      pathname: this.path,
      asPath: this.path,
      query: {},
      token,
      sid: identity.sid,
      headers: identity.headers as Record<string, string>,
      ip: this.bridge.clientIp(identity as EventClient),
    };
    // The handler's @Throttle limits, as for its events, before the tier spends anything.
    const wait = await this.rateLimiter.checkHandler(handler, routerData.ip);
    if (wait > 0) {
      const refusal = this.rateLimiter.refusal(handler.fullName, wait);
      res.setHeader('Retry-After', String(Math.ceil((refusal.retryAfterMs ?? wait) / 1000)));
      refuse(res, this.keying, 429, { detail: refusal.message, code: 'rate_limited' });
      return;
    }
    // Timed and recorded as an event (metrics, devtools): its tier, its handler, its delta, or its refusal.
    const timer = this.metrics.start(handler.fullName);
    if (timer?.trace) {
      timer.trace.token = token;
      timer.trace.notePath(this.path);
    }
    // The tier on this request, before its body: a refusal stores nothing.
    let outcome: BridgeOutcome;
    try {
      outcome = await this.bridge.runOnRequest(handler, routerData, { ...identity, emitUpdate: () => undefined, emitError: () => undefined }, req, res, timer);
    } catch (error) {
      this.metrics.fail(timer, error);
      if (error instanceof BridgeError && error.code === 'session_unavailable') this.sessionOutage.failed(error);
      throw error;
    }
    this.sessionOutage.succeeded();
    // A middleware answered (a redirect to a login page): that is the answer.
    if (outcome.redirect || res.headersSent || res.writableEnded) {
      // Its body is not read either: the connection closes once the answer is sent.
      closeIfBodyUnread(res, this.keying);
      this.metrics.finish(timer);
      return;
    }
    try {
      this.refuseOtherSession(state, outcome, req.headers.cookie);
    } catch (error) {
      this.metrics.fail(timer, error);
      throw error;
    }
    // The tab's socket at each send, not the one it had now: it may reconnect during a long upload.
    const tab = new UploadTabClient(identity, (current) => this.gateway.clientFor(current));
    // The client going away cancels the upload: the parser stops and cleans up, a streaming handler's loop throws.
    const cancel = new AbortController();
    const chargeTextField = this.textFieldCharge(address, res);
    // A body that says it is longer than any form within the limits is refused as the parser would, before its
    // client is told to send it.
    const declared = declaredBodyTooLarge(req, limits);
    if (declared) {
      this.answerFailure(res, declared, { handler, outcome, routerData, identity, tab, cancel, chargeTextField });
      this.followBrowserSession(token, req, res, outcome);
      return;
    }

    // Every check passed: a client that waits for `100 Continue` before its body gets it now, not before the checks.
    this.continueGate.release(req, res);
    const onClose = () => {
      if (!res.writableFinished) cancel.abort(new UploadAbortedError('The client went away before the upload finished.'));
    };
    res.once('close', onClose);
    // The client may have left while the tier ran: its 'close' was emitted before anyone listened.
    if (res.destroyed) onClose();
    this.underWay.set(cancel, req);
    if (this.refusingArriving && !req.complete) cancel.abort(shutdownRefusal());
    try {
      const call: UploadContext = { handler, outcome, routerData, identity, tab, cancel, chargeTextField };
      if (handler.upload === 'buffered') await this.buffered(req, res, limits, cancel.signal, call);
      else await this.streaming(req, res, limits, cancel.signal, call);
    } finally {
      this.underWay.delete(cancel);
      res.off('close', onClose);
      this.followBrowserSession(token, req, res, outcome);
    }
  }

  /**
   * An authenticated upload showed the browser's current cookies, and its session (with what the answer set, a
   * session the handler regenerated): a tab socket still in an older session (the user logged in in another tab
   * since it connected) moves to them, so its later events do not go on with a stale user (see
   * {@link SessionTracker}). Anonymous uploads move nothing: a client that sent no cookies (a script) must not take
   * the socket out of its session, and a logout elsewhere already reaches the socket as the session's end.
   */
  private followBrowserSession(token: string, req: IncomingMessage, res: ServerResponse, outcome: BridgeOutcome): void {
    const user = outcome.request?.user;
    if (user === undefined || user === null) return;
    const setCookie = res.getHeader('set-cookie');
    const setCookies = setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [String(setCookie)];
    const cookieHeader = mergeSetCookies(req.headers.cookie ?? '', setCookies);
    const sessionId = outcome.request?.sessionID;
    this.sessions
      .followBrowserSession(token, cookieHeader, typeof sessionId === 'string' && sessionId !== '' ? sessionId : undefined)
      .catch((error: unknown) => this.logger.warn(`Moving a tab's socket to its browser's session failed: ${(error as Error)?.message ?? String(error)}`));
  }

  /** Buffered mode: the form into temp files, then the handler, its deltas as NDJSON lines. */
  private async buffered(req: IncomingMessage, res: ServerResponse, limits: ResolvedUploadOptions, signal: AbortSignal, call: UploadContext): Promise<void> {
    let form: BufferedUpload;
    try {
      form = await parseBufferedUpload(req, limits, signal, this.tempDisk, call.chargeTextField);
    } catch (error) {
      this.answerFailure(res, error, call);
      return;
    }
    if (form.files.length > 0) this.tempDirectoryOutage.stored();
    const stream = new UploadUpdateStream(res, call.identity, call.tab, this.options.maxOutboundBytes, (unread) => this.reportUnreadAnswer(call.handler, unread));
    let failed: { error: unknown } | undefined;
    try {
      await this.pipeline.runUpload(call.identity.token, { handler: call.handler, client: stream, outcome: call.outcome, routerData: call.routerData, payload: form.args, upload: form.files, cancel: call.cancel });
    } catch (error) {
      failed = { error };
    }
    // The temp files go before the answer ends: a client that read the last line finds nothing left on disk.
    await form.dispose().catch((error: unknown) => this.logger.warn(`Removing an upload's temp files failed: ${(error as Error).message}`));
    if (!failed) {
      stream.end();
      return;
    }
    // The client went away and the handler stopped on its signal (with whatever it threw): a cancellation, not a
    // failure; nobody is left to answer, and the tab did nothing wrong.
    const reason: unknown = call.cancel.signal.reason;
    const failure = reason instanceof UploadAbortedError ? undefined : this.reportHandlerFailure(reason instanceof BridgeError ? reason : failed.error, call);
    if (reason instanceof UploadAbortedError) this.logger.debug(`An upload to ${call.handler.fullName} was cancelled: the client went away.`);
    if (!failure) res.destroy();
    else if (stream.started) stream.end(this.payloadOf(failure.body, call.handler));
    else answer(res, failure.status, failure.body);
  }

  /**
   * A buffered upload's answer was cut off: its client left more than `maxOutboundBytes` of it unread, which cancels
   * the upload. An operator sees it (a client that stopped reading, or a proxy that buffers answers whole); before,
   * only a debug line said that the client went away.
   */
  private reportUnreadAnswer(handler: HandlerDefinition, unreadBytes: number): void {
    const verdict = this.unreadAnswerLog.take(handler.fullName);
    if (!verdict.log) return;
    const notLogged = verdict.notLoggedBefore > 0 ? ` (${verdict.notLoggedBefore} more since the last such line were not logged)` : '';
    this.logger.warn(
      `Closed the answer of an upload to ${handler.fullName}: ${unreadBytes} bytes of it were waiting for its client to read (maxOutboundBytes ${this.options.maxOutboundBytes}). The upload was cancelled; its handler's later deltas go to the tab's socket.${notLogged}`,
    );
  }

  /** Streaming mode: the handler reads chunks as they arrive; `202 {}` once both the request and the handler ended. */
  private async streaming(req: IncomingMessage, res: ServerResponse, limits: ResolvedUploadOptions, signal: AbortSignal, call: UploadContext): Promise<void> {
    const upload = streamUpload(req, limits, signal, call.chargeTextField);
    // A client that stopped sending ends the upload as a cancellation does: besides the loop throwing, the handler's
    // signal fires, for a handler that waits on something else with it while its tab's lock is held.
    upload.done.catch((error: unknown) => {
      if (isIdleTimeout(error) && !call.cancel.signal.aborted) call.cancel.abort(error);
    });
    let payload: Record<string, unknown>;
    try {
      payload = await upload.args;
    } catch (error) {
      // A bad form before the first file: the handler never starts.
      await upload.done.catch(() => undefined);
      this.answerFailure(res, error, call);
      return;
    }
    const ran = this.pipeline.runUpload(call.identity.token, { handler: call.handler, client: call.tab, outcome: call.outcome, routerData: call.routerData, payload, upload: upload.chunks, cancel: call.cancel });
    // A handler that ended without reading every chunk (or never started its loop) lets the rest be read and dropped.
    const handled = ran.finally(() => void upload.chunks.return());
    // A handler that fails on its own while the body is still on its way (it refused a file's first bytes, its state
    // lock could not be had) is answered now, and the tab told now: not once the last byte of a big file arrived.
    // The rest of the body is still read and dropped (the client can read the answer), bounded by the limits.
    const first = await Promise.race([upload.done.then(noFailure, noFailure), handled.then(noFailure, (error: unknown) => ({ error }))]);
    if (first && upload.failure === undefined && this.failedOnItsOwn(first.error, call)) {
      const failure = this.reportHandlerFailure(first.error, call);
      if (failure) answer(res, failure.status, failure.body);
      else res.destroy();
      return;
    }
    const [read, handledResult] = await Promise.allSettled([upload.done, handled]);
    // The pipeline cancelled the upload (its state lock was lost) and that stopped the read or the handler: its
    // structured error is the answer, and the tab is told, whatever the cancelled read and handler threw.
    const cancelled: unknown = call.cancel.signal.reason;
    if (cancelled instanceof BridgeError && (read.status === 'rejected' || handledResult.status === 'rejected')) {
      const failure = this.reportHandlerFailure(cancelled, call);
      if (failure) answer(res, failure.status, failure.body);
      return;
    }
    if (read.status === 'rejected') {
      // The request failed (a limit, a bad part, the client gone): that is the answer, whatever the handler did.
      if (handledResult.status === 'rejected' && handledResult.reason !== read.reason && !(handledResult.reason instanceof UploadError) && !(handledResult.reason instanceof UploadAbortedError)) {
        this.reportHandlerFailure(handledResult.reason, call);
      }
      this.answerFailure(res, read.reason, call);
      return;
    }
    if (handledResult.status === 'rejected') {
      const failure = this.reportHandlerFailure(handledResult.reason, call);
      if (failure) answer(res, failure.status, failure.body);
      else res.destroy();
      return;
    }
    answer(res, 202, {}, NDJSON_CONTENT_TYPE);
  }

  /**
   * True when a streaming handler failed for a reason of its own, not because the upload did: a failed read (a
   * limit, a bad part, the client gone) throws its error into the handler's loop, and a lost state lock cancels the
   * upload; those are answered once the read settled (the caller also checks that the read has not failed, for a
   * handler that wraps what its loop threw).
   */
  private failedOnItsOwn(error: unknown, call: UploadContext): boolean {
    return !(error instanceof UploadError) && !(error instanceof UploadAbortedError) && !call.cancel.signal.aborted;
  }

  /** A refused or failed request before the handler ran: its status and body, or nothing for a client that left. */
  private answerFailure(res: ServerResponse, error: unknown, call: UploadContext): void {
    // A form refused before its handler ran (a limit, a bad part, the client gone): the devtools and the metrics see
    // the upload end with it, as they see an event its tier refused; its handler's run is not recorded twice.
    this.metrics.fail(call.outcome.timer, error);
    const failure = failureAnswer(error, this.options.production);
    if (!failure) {
      this.logger.debug(`An upload to ${call.handler.fullName} was cancelled: the client went away.`);
      res.destroy();
      return;
    }
    // A refusal at shutdown is no failure: the shutdown logs how many it refused.
    if (isTempDirectoryFailure(error)) {
      // The file system's own error (a full device, a read-only mount) is what the operator needs to read; once per
      // outage, as every upload fails the same way until it is fixed.
      this.tempDirectoryOutage.failed(call.handler.fullName, error.cause);
    } else if (failure.status >= 500 && !closesConnection(error)) {
      const cause: unknown = (error as Error)?.cause;
      const because = cause === undefined ? '' : `\nCaused by: ${(cause as Error)?.message ?? String(cause)}`;
      this.logger.error(`An upload to ${call.handler.fullName} failed: ${(error as Error)?.stack ?? String(error)}${because}`);
    }
    // A limit a user runs into (a file too large, too many files, a network that stalled) is also shown in the tab,
    // as a refused event is: Reflex's own client only logs a failed upload's status to the browser's console.
    if (error instanceof UploadError && isShownToTheTab(error) && call.tab.connected) {
      this.pipeline.reportError(call.tab, new BridgeError(failure.body.code as BridgeErrorCode, failure.body.detail, undefined, failure.status), call.handler.fullName);
    }
    if (isIdleTimeout(error)) this.logger.debug(`An upload to ${call.handler.fullName} timed out: ${(error as Error).message}`);
    // The rest of the body is not waited for (a stalled client) or not worth reading (one past the body's bound): the
    // connection closes once the answer is sent, so the client holds no socket until Node's own requestTimeout.
    if (closesConnection(error) && !res.headersSent) closeAfterAnswer(res, this.keying);
    answer(res, failure.status, failure.body);
  }

  /**
   * The handler (or its state lock) failed: the tab is told over its socket as for an event (a toast), and the
   * caller answers the request. Returns the answer, or undefined when the client left (nothing to tell).
   */
  private reportHandlerFailure(error: unknown, call: UploadContext): { status: number; body: UploadErrorBody } | undefined {
    const failure = failureAnswer(error, this.options.production);
    if (!failure) {
      this.logger.debug(`An upload to ${call.handler.fullName} was cancelled: the client went away.`);
      return undefined;
    }
    if (error instanceof UploadError || error instanceof UnknownClientTokenError) return failure;
    // As for an event: the socket gets the structured error (and what the presenter shows); a handler's own
    // failure is logged with its stack by the pipeline.
    if (call.tab.connected) this.pipeline.reportError(call.tab, error, call.handler.fullName);
    else if (!(error instanceof BridgeError)) this.pipeline.logHandlerError(error, call.handler.fullName);
    return failure;
  }

  private payloadOf(body: UploadErrorBody, handler: HandlerDefinition): BridgeErrorPayload {
    return { code: body.code as BridgeErrorPayload['code'], message: body.detail, event: handler.fullName };
  }

  /** The token's state, read without its lock; a store that cannot answer refuses the upload (503). */
  private async readState(token: string): Promise<StoredState | null> {
    try {
      const state = await this.store.read(token);
      this.storeOutage.succeeded();
      return state;
    } catch (error) {
      this.storeOutage.failed(error);
      throw new BridgeError('state_unavailable', 'The state store is unavailable; nothing was uploaded. Try again.');
    }
  }

  /**
   * A token bound to a session (see {@link TokenOwnership}) takes uploads from that session only, as its socket
   * would: the session is the one the tier's middleware found for this request's cookies. An upload without any
   * cookie is told so: it is a client that did not send the session cookie (a script without a cookie jar, a page on
   * another origin posting without credentials), not a browser whose session changed.
   */
  private refuseOtherSession(state: StoredState, outcome: BridgeOutcome, cookieHeader: string | undefined): void {
    if (!this.ownership.enabled) return;
    const owner = TokenOwnership.ownerOf(state);
    if (owner === undefined) return;
    const sessionId = outcome.request?.sessionID;
    if (typeof sessionId === 'string' && sessionId !== '' && TokenOwnership.hashOf(sessionId) === owner) return;
    const message = cookieHeader
      ? 'This client token belongs to another session.'
      : 'This client token belongs to a session, and this upload carries no cookies: send it with the session cookie.';
    throw new BridgeError('forbidden', message, undefined, 403);
  }

}

/**
 * Calls `then` once `req`'s body has all arrived or its connection closed (at once when either already happened): a
 * refused body's rest still read and dropped, or a connection closed after its answer (a lingering close), ends
 * within the limits (the body's bound, `uploads.idleTimeoutMs`, 5 s). The socket's `close`, not the request's: a
 * request answered before its body ended is no longer told when its connection goes.
 */
function afterBodyEnded(req: IncomingMessage, then: () => void): void {
  const socket = req.socket;
  if (req.complete || socket.destroyed) {
    then();
    return;
  }
  const ended = (): void => {
    req.off('end', ended);
    socket.off('close', ended);
    then();
  };
  req.once('end', ended);
  socket.once('close', ended);
}

/** A request path's rest after the route's own (see {@link pathAfterRoute}) that Express routes to it: none, or `/`. */
function isRoutePath(rest: string | undefined): boolean {
  return rest === '' || rest === '/';
}

/**
 * The refusals of an upload whose tier passed that the tab is told of: the limits (413), a body that stopped
 * arriving (408), a worker without temp disk to spare (507) or whose temp directory cannot be written (503
 * `upload_storage_unavailable`), which a user of Reflex's own frontend meets; a malformed form (400) comes from
 * scripts only, and a refusal at shutdown (503 `uploads_busy`) is for the client to retry elsewhere.
 */
function isShownToTheTab(error: UploadError): boolean {
  return error.status === 413 || error.status === 408 || error.status === 507 || error.code === 'upload_storage_unavailable';
}

/** A refusal because the temp directory's file system failed (full or unwritable), not the worker's own budget. */
function isTempDirectoryFailure(error: unknown): error is UploadError {
  return error instanceof UploadError && error.cause !== undefined && (error.code === 'upload_storage_full' || error.code === 'upload_storage_unavailable');
}

/** What one upload's modes work with once its tier passed. */
interface UploadContext {
  handler: HandlerDefinition;
  outcome: BridgeOutcome;
  routerData: RouterData;
  identity: UploadClientIdentity;
  /** The tab: its socket (here or, on several workers, its room) at each send, whichever it is by then. */
  tab: UploadTabClient;
  /** Aborted by the client going away (here) or by a lost state lock (the pipeline). */
  cancel: AbortController;
  /** Charges each text field to the address's budget (`uploads.eventArgsPerAddress`); undefined when it is off. */
  chargeTextField: TextFieldCharge | undefined;
}

/**
 * The refusal of an upload from an address that spent its budget of form text (`uploads.eventArgsPerAddress`), for
 * `waitMs` more milliseconds: `429 rate_limited`, as a handler's `@Throttle()` refuses an upload.
 */
function argsBudgetRefusal(waitMs: number): UploadError {
  return new UploadError(429, 'rate_limited', `Uploads from your address sent too much form data for now; try again in ${Math.ceil(waitMs / 1000)} s.`);
}
