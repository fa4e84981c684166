
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { defer, map, share, type Observable } from 'rxjs';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { whenAnswerable } from '../common/pipelined-turn.js';
import { OriginPolicy } from '../security/origin-policy.js';
import { allowCrossOrigin } from '../security/cross-origin-headers.js';
import { addressKeyingOf, requestAddressKey, type AddressKeying } from '../security/client-address.js';
import { UploadSlots } from '../upload/upload-slots.js';
import { answerWithoutBody } from '../security/answer-without-body.js';
import { BridgeDevtools, type InspectionFilter } from './bridge-devtools.service.js';
import { isDevelopmentHostAllowed } from '../security/development-host.js';
import { DevtoolsHistograms } from './devtools-histograms.js';
import { DEVTOOLS_PAGE } from './devtools-page.js';
import { DEVTOOLS_OVERLAY } from './devtools-overlay.js';
import { writeEventsAnswer } from './events-answer.js';
import { AnswerBytesBudget, MAX_STATE_ANSWER_BYTES } from './answer-bytes.budget.js';
import { logText } from '../common/log-text.js';
import { undecodedRoutePath } from '../common/undecoded-route-path.js';
import { isClientToken } from '../protocol/client-token.js';
import { decodedPathPart } from '../common/decoded-path-part.js';
import { cutText, textOf } from '../common/bounded-text.js';

/** Longest query value read (a handler name, a token): anything longer is not one. */
const MAX_QUERY_VALUE = 256;

/**
 * Bytes of the event stream a client may leave unread, past what its socket buffers took, before the stream is
 * closed: a page reads its stream as it comes, and one that stopped reading must not make the server hold every
 * later event for it. A browser's `EventSource` then connects again.
 */
const MAX_STREAM_BACKLOG_BYTES = 1024 * 1024;

function json(res: ServerResponse, keying: AddressKeying, status: number, body: unknown): void {
  answerWithoutBody(res, keying, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function notFound(res: ServerResponse, keying: AddressKeying, what: string): void {
  json(res, keying, 404, { code: 'not_found', message: `${what} is not held by this worker's devtools.` });
}

/** The query of a request URL, each value bounded. */
function queryOf(req: IncomingMessage): URLSearchParams {
  const url = req.url ?? '';
  const at = url.indexOf('?');
  const params = new URLSearchParams(at < 0 ? '' : url.slice(at + 1));
  for (const [key, value] of [...params]) if (value.length > MAX_QUERY_VALUE) params.delete(key);
  return params;
}

/**
 * Serves the devtools under `devtools.path` (default `/_bridge/devtools`), only when devtools are on:
 * - `GET <path>` the page; `GET <path>/overlay.js` the overlay script;
 * - `GET <path>/events` the recent events, newest first (`?handler=&tier=&token=&limit=`), at most 4 MiB of them
 *   (`omitted` counts the rest), written as the client reads them; `GET <path>/events/<id>`;
 *   `DELETE <path>/events` clears them; `GET <path>/stream` each new event as server-sent events;
 * - `GET <path>/state/<token>` a token's state tree; `GET <path>/advice` the tier advisor;
 *   `GET <path>/metrics` the bridge's histograms (with `metrics.registry`).
 * A pipelined request is answered when its turn comes (see {@link whenAnswerable}).
 * A request addressed to a host name that is not an IP address, `localhost` or in `devtools.allowedHosts` gets 403
 * `host_not_allowed` (see {@link isDevelopmentHostAllowed}); a browser request from an origin the {@link OriginPolicy}
 * refuses gets 403 `origin_not_allowed` (with `corsOrigins: true`, any origin but the request's own).
 */
@Injectable()
export class DevtoolsRoute implements OnModuleInit {
  /**
   * The app's origin policy without its "every origin" (`corsOrigins: true`): that opens the app to any page, and
   * with the app's own CORS reflecting origins, any site the developer visits would read every user's events and
   * states from `http://localhost`. The devtools answer their own origin and the listed ones only.
   */
  private readonly origins: OriginPolicy;
  /**
   * Each new event as one server-sent-events frame, made once however many pages follow the stream: an event is
   * recorded on its own path, and with 20 pages open it was turned into JSON 20 times there.
   */
  private readonly frames: Observable<string> = defer(() => this.devtools.stream()).pipe(
    map((event) => `data: ${JSON.stringify(event)}\n\n`),
    share(),
  );
  /**
   * The open event streams, per client address and in total (`devtools.maxStreamsPerAddress`, `devtools.maxStreams`):
   * each may hold {@link MAX_STREAM_BACKLOG_BYTES} unread, and a script on the network opened as many as it liked.
   * The uploads' counter, as it counts the same two ways.
   */
  private streams: UploadSlots | undefined;
  private readonly logger = new Logger('ReflexBridge');
  /**
   * What the refusals of streams have logged since a stream last ended: one line per address and one for the worker,
   * not one per request (a tab whose page reloads in a loop, or a script, asks again and again). At most
   * `maxStreams / maxStreamsPerAddress` addresses are ever refused for their share at once, so the set stays small.
   */
  private readonly refusedAddressesLogged = new Set<string>();
  private refusedBusyLogged = false;
  /** The state answers this worker holds for clients that have not read them (see {@link MAX_STATE_ANSWER_BYTES}). */
  private readonly stateAnswers = new AnswerBytesBudget(MAX_STATE_ANSWER_BYTES);

  /** How a request's client address is keyed, for the streams per address and the lingering close's share. */
  private readonly keying: AddressKeying;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly devtools: BridgeDevtools,
    appOrigins: OriginPolicy,
    private readonly histograms: DevtoolsHistograms,
  ) {
    this.origins = appOrigins.allowsAnyOrigin ? new OriginPolicy({ trustProxy: options.bridge.trustProxy }) : appOrigins;
    this.keying = addressKeyingOf(options);
  }

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    const devtools = this.options.devtools;
    if (!adapter || !devtools) return;
    const base = devtools.path;
    this.streams = new UploadSlots(devtools.maxStreams, devtools.maxStreamsPerAddress);
    /**
     * `open`: what any page may load whatever its origin, being code without data (see {@link isOpenTo}): the overlay
     * script, which a frontend on a listed origin loads as a classic script, whose request carries no `Origin`, only
     * `Sec-Fetch-Site: same-site`; and the page by a top-level navigation. The data routes keep the origin check.
     */
    const guarded = (handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>, open: 'script' | 'navigation' | undefined = undefined) => async (req: IncomingMessage, res: ServerResponse) => {
      // A pipelined request is answered when its turn comes: answers of hundreds of kilobytes (the held events, a
      // state tree), made at once for every request of a client that reads nothing, held 100 MB per 200 requests.
      const turn = whenAnswerable(req, res);
      if (turn !== true && !(await turn)) return;
      if (!isDevelopmentHostAllowed(req.headers.host, devtools.allowedHosts)) {
        json(res, this.keying, 403, { code: 'host_not_allowed', message: 'The devtools answer only to IP addresses, localhost and the names in devtools.allowedHosts.' });
        return;
      }
      const verdict = this.origins.check(req);
      if (!verdict.allowed && !isOpenTo(req, open)) {
        this.origins.reportRefusal(verdict, 'the devtools');
        json(res, this.keying, 403, { code: 'origin_not_allowed', message: 'Requests from this origin are not allowed here.' });
        return;
      }
      // A frontend on a listed origin (the overlay on its pages) reads the answers.
      allowCrossOrigin(this.origins, req, res);
      try {
        await handler(req, res);
      } catch (error) {
        // A store or registry may reject with anything (undefined, a string): read it without throwing here.
        if (!res.headersSent) json(res, this.keying, 500, { code: 'devtools_error', message: cutText(textOf(error instanceof Error ? error.message : error), 2_000) });
        // An answer cut short by the error (the events, written as they are read): its client must not wait for the rest.
        else res.destroy();
      }
    };
    adapter.get(base, guarded((_req, res) => answerWithoutBody(res, this.keying, 200, 'text/html; charset=utf-8', DEVTOOLS_PAGE.replace('__DEVTOOLS_PATH__', base)), 'navigation'));
    adapter.get(`${base}/overlay.js`, guarded((_req, res) => answerWithoutBody(res, this.keying, 200, 'text/javascript; charset=utf-8', DEVTOOLS_OVERLAY.replace('__DEVTOOLS_PATH__', base)), 'script'));
    adapter.get(`${base}/events`, guarded((req, res) => this.eventsAnswer(req, res, devtools.maxEvents)));
    adapter.delete(`${base}/events`, guarded((_req, res) => {
      this.devtools.clear();
      json(res, this.keying, 200, { ok: true });
    }));
    // The id and the token are decoded here (lastSegment), not by Express: a malformed escape is these routes' 404,
    // not Express's 400.
    adapter.get(undecodedRoutePath(`${base}/events/`, 'segment'), guarded((req, res) => {
      const id = Number(lastSegment(req));
      const event = Number.isSafeInteger(id) ? this.devtools.get(id) : undefined;
      if (!event) return notFound(res, this.keying, 'This event');
      json(res, this.keying, 200, event);
    }));
    adapter.get(undecodedRoutePath(`${base}/state/`, 'segment'), guarded(async (req, res) => {
      const token = lastSegment(req);
      // Only what a client token can be reaches the store: a `}` would change a Redis key's hash tag.
      const state = isClientToken(token) ? await this.devtools.stateOf(token) : null;
      if (!state) return notFound(res, this.keying, 'This token\'s state');
      const body = JSON.stringify({ token, state });
      if (!this.stateAnswers.take(res, Buffer.byteLength(body))) {
        res.setHeader('Retry-After', '1');
        return json(res, this.keying, 503, {
          code: 'devtools_busy',
          message: `This worker holds ${MAX_STATE_ANSWER_BYTES} bytes of devtools state answers not read yet; try again shortly.`,
        });
      }
      answerWithoutBody(res, this.keying, 200, 'application/json; charset=utf-8', body);
    }));
    adapter.get(`${base}/advice`, guarded((_req, res) => json(res, this.keying, 200, { advice: this.devtools.advice() })));
    adapter.get(`${base}/metrics`, guarded(async (_req, res) => json(res, this.keying, 200, { histograms: await this.histograms.read() })));
    adapter.get(`${base}/stream`, guarded((req, res) => this.stream(req, res)));
  }

  private eventsAnswer(req: IncomingMessage, res: ServerResponse, maxEvents: number): Promise<void> {
    const filter = this.filterOf(req);
    return writeEventsAnswer(res, this.devtools.eachRecent(filter), this.devtools.countRecent(filter), this.devtools.size, maxEvents);
  }

  private filterOf(req: IncomingMessage): InspectionFilter {
    const query = queryOf(req);
    const limit = Number(query.get('limit'));
    return {
      handler: query.get('handler') || undefined,
      tier: query.get('tier') || undefined,
      token: query.get('token') || undefined,
      limit: Number.isSafeInteger(limit) && limit > 0 ? limit : undefined,
    };
  }

  /**
   * Server-sent events: one `data:` line of JSON per new event, until the browser goes away. A client that leaves
   * more than {@link MAX_STREAM_BACKLOG_BYTES} unread is disconnected. A stream past `devtools.maxStreamsPerAddress`
   * from its client's address gets 429 `too_many_streams`, past `devtools.maxStreams` on the worker 503
   * `devtools_streams_busy`. Like every devtools answer, a pipelined
   * request's stream starts when its answer's turn comes: Node queues the answers of a connection's pipelined
   * requests behind the one being written, which for a stream never ends, and each would otherwise buffer every
   * event (20 of them held 20 MB).
   */
  private stream(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'HEAD') {
      // Express answers HEAD with the GET route. A HEAD answer has no body, so the client has its whole answer with the
      // headers: a stream opened for it held a place among the address's streams, and the connection, whose next
      // request waited behind a never-ending answer, until the client closed it.
      streamHeaders(res);
      return void res.end();
    }
    const address = requestAddressKey(req, this.keying);
    const slot = this.streams!.acquire(address);
    if (slot === 'address') {
      const limit = this.streams!.maxPerAddress;
      if (!this.refusedAddressesLogged.has(address)) {
        this.refusedAddressesLogged.add(address);
        // Cut short: with bridge.trustProxy a client that bypasses the proxy writes its own X-Forwarded-For.
        this.logger.warn(`Refusing devtools event streams from ${logText(address, 64)}: it has ${limit} open on this worker (devtools.maxStreamsPerAddress). Logged once until a stream ends.`);
      }
      return json(res, this.keying, 429, { code: 'too_many_streams', message: `${limit} devtools event streams are open from your address (devtools.maxStreamsPerAddress); close one first.`, limit });
    }
    if (slot === 'worker') {
      const limit = this.streams!.maxConcurrent;
      if (!this.refusedBusyLogged) {
        this.refusedBusyLogged = true;
        this.logger.warn(`Refusing devtools event streams: ${limit} are open on this worker (devtools.maxStreams). Logged once until a stream ends.`);
      }
      return json(res, this.keying, 503, { code: 'devtools_streams_busy', message: `${limit} devtools event streams are open on this worker (devtools.maxStreams); close one first.`, limit });
    }
    // 'close' of the response: it comes when the stream ends for any reason (the client went, the server closed it).
    res.on('close', () => {
      slot.release();
      this.refusedBusyLogged = false;
      this.refusedAddressesLogged.delete(address);
    });
    streamHeaders(res);
    res.flushHeaders();
    res.write(': devtools\n\n');
    const subscription = this.frames.subscribe({
      next: (frame) => {
        if (res.destroyed) return;
        if (res.writableLength > MAX_STREAM_BACKLOG_BYTES) return void res.destroy();
        res.write(frame);
      },
      complete: () => res.end(),
    });
    req.on('close', () => subscription.unsubscribe());
  }
}

/** The status and headers of an event stream's answer. */
function streamHeaders(res: ServerResponse): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/event-stream');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Accel-Buffering', 'no');
}

/**
 * Whether a request the origin policy refused may still be answered: a script load of the overlay (`script`), or a
 * top-level navigation to the page (`navigation`: the overlay's link on a frontend of another port is same-site,
 * not same-origin). Neither carries an `Origin`; a request that sends one (a fetch, a form) stays refused, and so
 * does the page loaded in another site's frame.
 */
function isOpenTo(req: IncomingMessage, open: 'script' | 'navigation' | undefined): boolean {
  if (open === undefined || req.headers.origin !== undefined) return false;
  const dest = req.headers['sec-fetch-dest'];
  if (open === 'script') return dest === undefined || dest === 'script';
  return dest === 'document' && req.headers['sec-fetch-mode'] === 'navigate';
}

/** The last path segment of a request URL, decoded ('' when it cannot be). */
function lastSegment(req: IncomingMessage): string {
  const path = (req.url ?? '').split('?')[0];
  return decodedPathPart(path.slice(path.lastIndexOf('/') + 1)) ?? '';
}
