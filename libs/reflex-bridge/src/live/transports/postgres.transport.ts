import type * as Pg from 'pg';
import type { Client as PgClient, Pool as PgPool } from 'pg';
import { LiveTransportError } from '../live-transport.error.js';
import type { ModelChange } from '../model-change.js';
import { asciiJson } from './ascii-json.js';
import { STALE_WINDOW } from './change-sequencer.js';
import { ReconnectingTransport } from './reconnecting.transport.js';
import { knownOptions, orderedDelays, positiveTimerOption } from '../../common/connection-options.js';

type PgModule = typeof Pg;
/** What {@link PostgresTransport} touches of a `pg` client's connection (not in `pg`'s types). */
interface PgConnection {
  _ending: boolean;
  stream: { destroy(error?: Error): void };
  once(event: 'connect' | 'end', listener: () => void): void;
}

/** Options of {@link PostgresTransport}. */
export interface PostgresTransportOptions {
  /**
   * A `postgresql://` (or `postgres://`) URL, e.g. `postgresql://app:secret@db:5432/app`; for a Unix socket,
   * `postgresql:///app?host=/var/run/postgresql`. libpq's key=value form (`host=db dbname=app`) is refused.
   */
  connectionString: string;
  /**
   * LISTEN/NOTIFY channel shared by all workers of one app: lowercase letters, digits and `_`, at most 63
   * characters, starting with a letter or `_` (so it is the same identifier quoted or not).
   * @default 'reflex_bridge_live'
   */
  channel?: string;
  /**
   * Milliseconds `publish` waits, counted from the call (waiting behind earlier publishes included), for a
   * connection and for the NOTIFY to be answered; also the connect timeout of the listening connection (of a
   * reconnection's TCP handshake only: then it waits for Postgres to answer, up to `heartbeatMs`), and how
   * long `close` waits for the server's goodbye before it cuts the connections, and how long the first NOTIFY may
   * take to come back to its own LISTEN connection before it warns of a transaction pooler.
   * @default 5000
   */
  publishTimeoutMs?: number;
  /**
   * First delay before re-creating a lost listening connection; doubles per failed attempt (with jitter) up to
   * `maxReconnectDelayMs`. Reconnection never gives up once the transport has started.
   * @default 100
   */
  minReconnectDelayMs?: number;
  /** @default 5000 */
  maxReconnectDelayMs?: number;
  /**
   * Interval of a `SELECT 1` on the listening connection, which notices a connection that died silently (no
   * TCP reset, e.g. a network partition) and triggers the reconnection. It also runs at once when a publish's own
   * NOTIFY has not come back within `publishTimeoutMs` and nothing else was heard meanwhile. And how long a
   * reconnection attempt that the server accepted waits for Postgres to answer before it is tried afresh.
   * @default 30000
   */
  heartbeatMs?: number;
}

const CHANNEL_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;
/** The keys of {@link PostgresTransportOptions}: any other is refused. */
const POSTGRES_TRANSPORT_OPTIONS: readonly (keyof PostgresTransportOptions)[] = [
  'connectionString',
  'channel',
  'publishTimeoutMs',
  'minReconnectDelayMs',
  'maxReconnectDelayMs',
  'heartbeatMs',
];
/**
 * What `pg` reads as a connection URL: `postgres://`, `postgresql://`, `socket:`, or its `/socket/dir database` form.
 * It resolves anything else against a dummy `postgres://base`: a key=value string ("host=db dbname=app") made every
 * connection attempt fail with "getaddrinfo ENOTFOUND base", forever, while the app ran without live updates.
 */
const CONNECTION_URL_PATTERN = /^(?:(?:postgres|postgresql|socket):|\/)/i;

function messageOf(error: unknown): string {
  return (error as Error)?.message ?? String(error);
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Whether the client gave up waiting (`query_timeout`, connection timeout): errors without a SQLSTATE whose message
 * says so. A server error naming a timeout has a SQLSTATE and is judged by it: 57P05 "terminating connection due
 * to idle-session timeout" is a connection the server ended, not a statement that took too long.
 */
function isClientTimeout(error: unknown): boolean {
  return sqlState(error) === undefined && /timeout/i.test(messageOf(error));
}

/**
 * Publishes sent in one statement at most: 100 payloads of under 8000 bytes keep it under a megabyte. No more than
 * the receivers' {@link STALE_WINDOW}: a statement retried on a fresh connection after its first attempt did go out
 * delivers each change twice, and every duplicate must be recognised as one (not as a restart of the count).
 */
export const NOTIFY_BATCH = STALE_WINDOW;

/** One publish waiting for its statement. */
interface QueuedNotify {
  readonly payload: string;
  /** Its deadline passed before it was sent: it is not sent. */
  expired: boolean;
  /** The statement that carries it, once sent. */
  sent: Promise<void> | undefined;
}

/** A failure of the connection rather than of the statement: worth one retry on a fresh connection. */
function isConnectionFailure(error: unknown): boolean {
  const code = sqlState(error);
  if (code === undefined) return !isClientTimeout(error); // no SQLSTATE: socket-level error, or our own timeout
  return code.startsWith('08') || code.startsWith('57P'); // connection exception; admin, crash or idle shutdown
}

/**
 * Fans changes out through Postgres LISTEN/NOTIFY (`pg`): a dedicated connection LISTENs, a one-connection pool
 * sends `pg_notify`. No extra server to run when the app already has Postgres.
 *
 * - `start` opens the listening connection and LISTENs. When Postgres cannot be reached (or refuses the connection),
 *   it resolves without it and logs one warning: the app starts, the transport counts as down (`/_health`,
 *   `transportStatus$`), publishing fails with `unavailable`, and the listening connection is created in the
 *   background as after a lost one. `close` stops reconnecting and closes the listening connection and the pool.
 * - NOTIFY payloads must be under 8000 bytes: a larger change is refused with code `payload_too_large` before
 *   anything is sent. Keep `data` small (subscribers re-read the row by primary key). Payloads are ASCII JSON
 *   (other characters as `\uXXXX` escapes, 6 bytes each, 12 for an emoji), so they pass unchanged through a
 *   database of any encoding (LATIN1, SQL_ASCII, ...), which would otherwise refuse characters it lacks.
 * - A lost listening connection is re-created and LISTEN re-issued, with exponential backoff, without recreating
 *   the transport. An attempt whose TCP connection the server accepted waits for Postgres to answer (up to
 *   `heartbeatMs`), rather than leaving that connection queued at a frozen server and opening another. Changes
 *   published while it is down do not reach this worker (NOTIFY is not stored). It turns `idle_session_timeout` off
 *   for itself, so a server that ends idle sessions does not end it.
 * - Publishes run one at a time in call order, so one publisher's changes are committed, and so delivered, in
 *   order. A publish that finds its pooled connection dead (server restarted) is retried once on a new one;
 *   receivers drop the duplicate if the first attempt did go out. Otherwise it rejects with `unavailable` or
 *   `timeout`, never hangs: each publish settles within `publishTimeoutMs` of its call, even behind others. After
 *   a `timeout` the change may still be delivered (Postgres runs a statement it received once it answers again);
 *   the message says when it was never sent.
 * - LISTEN needs a session of its own: through a pooler in transaction or statement pooling mode (pgbouncer's
 *   usual set-up, many hosted "pooled" endpoints) it never receives anything. When the first NOTIFY this
 *   transport sends has not come back to its own LISTEN connection within `publishTimeoutMs`, it logs a warning
 *   naming that likely cause. Give it a direct URL (or a session-pooling one).
 * @publicApi
 */
export class PostgresTransport extends ReconnectingTransport<PgModule> {
  /** The channel used when none is given. */
  static readonly DEFAULT_CHANNEL = 'reflex_bridge_live';
  /**
   * Largest accepted payload in bytes (of its ASCII JSON, see above): Postgres requires NOTIFY payloads shorter
   * than 8000 bytes.
   */
  static readonly MAX_PAYLOAD_BYTES = 7999;

  private readonly heartbeatMs: number;
  private pg?: PgModule;
  private listener?: PgClient;
  private pool?: PgPool;
  private reconnectTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private reconnectAttempt = 0;
  private tail: Promise<unknown> = Promise.resolve();
  /** Publishes not sent yet, in call order: the next statement sends those waiting then (see {@link notifyQueued}). */
  private queued: QueuedNotify[] = [];
  private readonly pooled = new Set<PgClient>();
  /** Listening connections that have received at least one notification on the channel. */
  private readonly heard = new WeakSet<PgClient>();
  private echoWatch?: NodeJS.Timeout;
  private echoWatched = false;
  /** Notifications the listening connections received on the channel, all together: proof that one is alive. */
  private notificationsHeard = 0;
  private echoCheck?: NodeJS.Timeout;
  /** When the latest NOTIFY went out, and how many notifications had been heard then. */
  private lastSend?: { heard: number; at: number };
  /** The `SELECT 1` under way on the LISTEN connection, if any ({@link ping}): one at a time. */
  private probe?: { client: PgClient; answered: Promise<void> };
  /** The LISTEN connection being opened, if any: `close` cuts it, as a reconnection may wait on a frozen server. */
  private connecting?: PgClient;
  /** Why `start` could not LISTEN, when it resolved without Postgres; cleared once the LISTEN connection is up. */
  private startedDown?: string;

  /** @param options see {@link PostgresTransportOptions}. */
  constructor(options: PostgresTransportOptions) {
    if (typeof options?.connectionString !== 'string' || !CONNECTION_URL_PATTERN.test(options.connectionString)) {
      // The value is not shown: it may hold a password.
      throw new TypeError(
        'PostgresTransport: "connectionString" must be a URL such as postgresql://user:password@host:5432/app ' +
          '(libpq\'s key=value form, "host=db dbname=app", is not supported; a Unix socket is ' +
          'postgresql:///app?host=/var/run/postgresql)',
      );
    }
    knownOptions('PostgresTransport', options, POSTGRES_TRANSPORT_OPTIONS);
    const channel = options.channel ?? PostgresTransport.DEFAULT_CHANNEL;
    if (typeof channel !== 'string' || !CHANNEL_PATTERN.test(channel)) {
      throw new TypeError(
        `PostgresTransport: "channel" must be lowercase letters, digits and "_" (max 63, not starting with a digit), got ${JSON.stringify(channel)}`,
      );
    }
    const minReconnectDelayMs = positiveTimerOption('PostgresTransport', 'minReconnectDelayMs', options.minReconnectDelayMs, 100);
    const maxReconnectDelayMs = positiveTimerOption('PostgresTransport', 'maxReconnectDelayMs', options.maxReconnectDelayMs, 5000);
    orderedDelays('PostgresTransport', 'minReconnectDelayMs', minReconnectDelayMs, 'maxReconnectDelayMs', maxReconnectDelayMs, options.maxReconnectDelayMs !== undefined);
    super({
      name: 'PostgresTransport',
      url: options.connectionString,
      channel,
      publishTimeoutMs: positiveTimerOption('PostgresTransport', 'publishTimeoutMs', options.publishTimeoutMs, 5000),
      minReconnectDelayMs,
      maxReconnectDelayMs,
      driverHint: 'the "pg" package: npm install pg',
      connectPhrase: 'LISTEN on',
      deliveryNoun: 'notification',
    });
    this.heartbeatMs = positiveTimerOption('PostgresTransport', 'heartbeatMs', options.heartbeatMs, 30_000);
  }

  // Loaded on first use so applications that never use Postgres need not install `pg`.
  protected override async loadDriver(): Promise<PgModule> {
    const loaded = await import('pg');
    return (loaded as unknown as { default?: PgModule }).default ?? loaded;
  }

  /**
   * LISTENs, or, when Postgres cannot be reached, resolves without it so that the app starts (as the module's Redis
   * connections do): {@link opened} then logs it and creates the LISTEN connection in the background.
   */
  protected override async open(pg: PgModule): Promise<void> {
    this.pg = pg;
    try {
      await this.listen();
    } catch (error) {
      if (this.isClosed()) throw error;
      this.startedDown = messageOf(error);
    }
  }

  protected override opened(): void {
    // One connection: NOTIFYs then commit in the order publish() was called, which keeps per-publisher order.
    this.pool = new this.pg!.Pool({
      connectionString: this.url,
      max: 1,
      connectionTimeoutMillis: this.publishTimeoutMs,
      query_timeout: this.publishTimeoutMs,
      keepAlive: true,
    });
    // An idle pooled connection that dies (server restart) is reported here; the pool drops it by itself.
    this.pool.on('error', (error) => this.logger.debug(`PostgresTransport idle publishing connection lost: ${error.message}`));
    // Known so that close() can cut them when the server does not answer its goodbye.
    this.pool.on('connect', (client) => this.pooled.add(client));
    this.pool.on('remove', (client) => this.pooled.delete(client));
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.heartbeatTimer.unref();
    if (this.startedDown === undefined) return;
    // The one line of this outage: the reconnection attempts log at debug level, and the return at log level.
    this.logger.warn(
      `PostgresTransport: could not LISTEN on ${this.safeUrl} (${this.startedDown}); started without it. Live changes ` +
        `are not received (publishing fails with "unavailable") until the LISTEN connection on "${this.channel}" is up.`,
    );
    this.scheduleReconnect();
  }

  protected override async send(json: string, change: ModelChange): Promise<void> {
    const payload = asciiJson(json);
    const bytes = payload.length; // ASCII: one byte per character, in every server encoding
    if (bytes > PostgresTransport.MAX_PAYLOAD_BYTES) {
      throw new LiveTransportError(
        'payload_too_large',
        `PostgresTransport: the change to "${change.modelLabel}" (pk ${JSON.stringify(change.pk)}) is ${bytes} bytes ` +
          `as JSON (non-ASCII characters escaped), but Postgres NOTIFY payloads must be under 8000 bytes; nothing was ` +
          'sent. Publish less "data" ' +
          '(the primary key is enough: subscribers re-read the row).',
      );
    }
    // The deadline counts from this call, not from this publish's turn: behind a frozen server, publishes queued
    // one after another would otherwise each wait for all the timeouts ahead of them (the 40th of a burst, 40
    // timeouts). One whose deadline passed while it waited is skipped when its turn comes, so it is never sent.
    const entry: QueuedNotify = { payload, expired: false, sent: undefined };
    this.queued.push(entry);
    const run = this.tail.then(() => {
      // Sent already, in the statement of an earlier publish (its outcome is this one's), or skipped as expired.
      if (entry.sent) return entry.sent;
      if (entry.expired) {
        // Forgotten at its turn, so that a server frozen for long keeps no payload of a publish that gave up.
        const at = this.queued.indexOf(entry);
        if (at >= 0) this.queued.splice(at, 1);
        return undefined;
      }
      return this.notifyQueued();
    });
    this.tail = run.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        entry.expired = true;
        const sent = entry.sent !== undefined;
        // A statement Postgres already received is run once the server answers again, even though this
        // connection is then gone: the caller must not assume that nobody got the change.
        const fate = sent
          ? 'The change was on its way and may still reach the workers if Postgres acts on it later.'
          : 'The change was waiting behind earlier ones and was not sent.';
        reject(
          new LiveTransportError(
            'timeout',
            `PostgresTransport could not NOTIFY "${this.channel}" on ${this.safeUrl} within ${this.publishTimeoutMs} ms ` +
              `(publishTimeoutMs): Postgres is not answering. ${fate}`,
          ),
        );
      }, this.publishTimeoutMs);
    });
    try {
      return await Promise.race([run, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Started, and the LISTEN connection is up (none while reconnecting). */
  override isConnected(): boolean {
    return this.state === 'started' && this.listener !== undefined;
  }

  protected override async release(): Promise<void> {
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.echoWatch);
    clearTimeout(this.echoCheck);
    // A reconnection waiting for a frozen server to answer would otherwise keep the process alive until it thaws.
    this.connecting?.connection.stream.destroy();
    const listener = this.listener;
    const pool = this.pool;
    this.listener = this.pool = undefined;
    const graceful = Promise.allSettled([listener?.end(), pool?.end()]);
    // A graceful end waits for the server to close its side, which a frozen (or unreachable) server never does:
    // app.close() would hang until it thaws. After the publish timeout the sockets are destroyed instead.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), this.publishTimeoutMs)));
    const outcome = await Promise.race([graceful, late]);
    clearTimeout(timer);
    if (outcome !== 'late') return;
    this.logger.warn(`PostgresTransport: ${this.safeUrl} did not answer the goodbye within ${this.publishTimeoutMs} ms; closing its connections`);
    for (const client of [listener, ...this.pooled]) client?.connection.stream.destroy();
    await graceful;
  }

  /**
   * Opens a LISTEN connection. `start` gives it `publishTimeoutMs` to be answered. A reconnection gives the TCP
   * handshake as long, but once the server's kernel has accepted the connection it waits for Postgres to answer,
   * however long that takes: a frozen server (stopped, swapping, its host suspended) accepts connections into its
   * queue without answering, and an attempt abandoned at its timeout stays queued there, so each attempt of a long
   * freeze used to add one (13 in 5 s at a 300 ms timeout), each a backend forked at once on thaw, all counted
   * against `max_connections`. One attempt at a time now waits in that queue, and is answered first on thaw. It
   * waits `heartbeatMs` at most (if longer than `publishTimeoutMs`): a host whose kernel answers but whose Postgres
   * never will (hung for good, or replaced by a failover behind the same name) is tried afresh, name resolved again.
   */
  private async listen(reconnecting = false): Promise<void> {
    const client = new this.pg!.Client({
      connectionString: this.url,
      keepAlive: true,
      connectionTimeoutMillis: reconnecting ? 0 : this.publishTimeoutMs,
      query_timeout: this.publishTimeoutMs,
    });
    const answered = reconnecting ? this.limitWait(client) : undefined;
    let current = true;
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client));
    // Notifications can arrive in the same network read as LISTEN's reply, before `this.listener` is set, so the
    // check is on this connection's own flag.
    client.on('notification', (message) => {
      if (!current || this.isClosed() || message.channel !== this.channel) return;
      this.heard.add(client);
      this.notificationsHeard += 1;
      this.receive(message.payload ?? '');
    });
    this.connecting = client;
    try {
      await client.connect();
      answered?.();
      await this.keepWhileIdle(client);
      await client.query(`LISTEN "${this.channel}"`);
    } catch (error) {
      current = false;
      await client.end().catch(() => undefined);
      throw error;
    } finally {
      if (this.connecting === client) this.connecting = undefined;
    }
    if (this.isClosed()) {
      current = false;
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    client.once('end', () => (current = false));
  }

  /**
   * Destroys `client`'s socket when the TCP handshake has not completed within `publishTimeoutMs` (the server is
   * unreachable: no connection is queued anywhere, so another attempt costs nothing), or, once it has, when Postgres
   * has not answered within the longer of `heartbeatMs` and `publishTimeoutMs`. Returns what to call once it
   * answered.
   */
  private limitWait(client: PgClient): () => void {
    const connection = (client as unknown as { connection: PgConnection }).connection;
    // What pg does at its own connection timeout, so that the attempt fails with its usual error.
    const giveUp = () => {
      connection._ending = true;
      connection.stream.destroy(new Error('timeout expired'));
    };
    let timer = setTimeout(giveUp, this.publishTimeoutMs);
    timer.unref();
    connection.once('connect', () => {
      clearTimeout(timer);
      timer = setTimeout(giveUp, Math.max(this.heartbeatMs, this.publishTimeoutMs));
      timer.unref();
    });
    const done = () => clearTimeout(timer);
    connection.once('end', done);
    return done;
  }

  /**
   * A LISTEN connection is idle between notifications, so a server (or role, or database) with
   * `idle_session_timeout` would end it every few seconds: a 'down' and an 'up' each time, and the changes sent in
   * between lost. The setting is the session's own to change. Servers before Postgres 14 do not know it.
   */
  private async keepWhileIdle(client: PgClient): Promise<void> {
    try {
      await client.query(`SELECT set_config('idle_session_timeout', '0', false)`);
    } catch (error) {
      if ((error as { code?: unknown })?.code !== '42704') throw error; // 42704: unrecognized parameter
    }
  }

  private lost(client: PgClient, error?: Error): void {
    if (client !== this.listener || this.isClosed()) return;
    this.listener = undefined;
    this.connectionChanged();
    this.logger.warn(
      `PostgresTransport lost its LISTEN connection to ${this.safeUrl} (${error?.message ?? 'connection ended'}); ` +
        'reconnecting. Changes published until it is back do not reach this worker.',
    );
    client.end().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.isClosed() || this.reconnectTimer) return;
    const delay = this.reconnectDelay(this.reconnectAttempt);
    this.reconnectAttempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.listen(true).then(
        () => {
          if (this.isClosed()) return;
          this.logger.log(
            this.startedDown === undefined
              ? `PostgresTransport LISTEN connection to ${this.safeUrl} is back after ${this.reconnectAttempt} attempt(s); ` +
                  `listening on "${this.channel}" again`
              : `PostgresTransport: listening on "${this.channel}" on ${this.safeUrl}; live changes flow.`,
          );
          this.startedDown = undefined;
          this.reconnectAttempt = 0;
          this.connectionChanged();
        },
        (error: unknown) => {
          this.logger.debug(`PostgresTransport reconnection attempt failed: ${messageOf(error)}`);
          this.scheduleReconnect();
        },
      );
    }, delay);
    // The app's server keeps the process alive; a forgotten transport alone should not.
    this.reconnectTimer.unref();
  }

  /**
   * After the first NOTIFY sent while listening: a direct connection hears its own NOTIFY within milliseconds, so
   * hearing nothing at all for `publishTimeoutMs` almost always means a pooler that runs each statement on
   * whichever server connection is free (LISTEN then registered on a connection that is handed to others), and
   * every `LiveBroadcaster.publish` would then wait for its echo in vain. Said once, at the first publish, with the
   * cause and the fix, rather than left to the generic echo-timeout warning. When the listening connection is
   * replaced meanwhile, the next publish checks again.
   */
  private watchFirstEcho(): void {
    const listener = this.listener;
    if (this.echoWatched || !listener || this.heard.has(listener)) return;
    this.echoWatched = true;
    this.echoWatch = setTimeout(() => {
      this.echoWatch = undefined;
      if (this.isClosed() || this.heard.has(listener)) return;
      if (listener !== this.listener) {
        this.echoWatched = false;
        return;
      }
      this.logger.warn(
        `PostgresTransport sent a NOTIFY on "${this.channel}" but its own LISTEN connection to ${this.safeUrl} has ` +
          `received nothing within ${this.publishTimeoutMs} ms (publishTimeoutMs). Is this URL a connection pooler in ` +
          'transaction or statement pooling mode (pgbouncer, a hosted "pooled" endpoint)? LISTEN never receives ' +
          "there, so no worker's subscribers get changes: give PostgresTransport a direct connection URL (or a " +
          'session-pooling one); the pooler can stay for the rest of the app.',
      );
    }, this.publishTimeoutMs);
    this.echoWatch.unref();
  }

  /**
   * After a NOTIFY went out: a live LISTEN connection hears it within milliseconds, so when it has heard nothing at
   * all within `publishTimeoutMs`, it is checked at once ({@link heartbeat}) rather than at the next periodic
   * heartbeat. A connection whose network path went silent (no reset) is otherwise noticed only then, up to
   * `heartbeatMs` later, and every change sent meanwhile is lost for this worker with the status still 'up'. One
   * check waits at a time, however many publishes go out.
   */
  private checkEcho(): void {
    this.lastSend = { heard: this.notificationsHeard, at: Date.now() };
    if (!this.echoCheck) this.scheduleEchoCheck(this.publishTimeoutMs);
  }

  /** Waits for the latest publish's echo: any notification heard since it was sent proves the connection alive. */
  private scheduleEchoCheck(delay: number): void {
    const listener = this.listener;
    if (!listener) return;
    this.echoCheck = setTimeout(() => {
      this.echoCheck = undefined;
      const sent = this.lastSend!;
      if (this.isClosed() || listener !== this.listener || this.notificationsHeard !== sent.heard) return;
      const waited = Date.now() - sent.at;
      if (waited < this.publishTimeoutMs) return this.scheduleEchoCheck(this.publishTimeoutMs - waited);
      this.heartbeat();
    }, delay);
    this.echoCheck.unref();
  }

  /**
   * A `SELECT 1` on the LISTEN connection, the one whose loss costs this worker its changes; shared with the
   * heartbeat, so one waits at a time. A failure (`query_timeout` after `publishTimeoutMs` on a frozen server)
   * counts as losing the connection, as the heartbeat's does: it is replaced, rather than left with a statement
   * queued at the server for every later probe to wait behind.
   */
  override ping(): Promise<void> {
    const client = this.listener;
    if (!client) {
      return Promise.reject(
        new LiveTransportError(this.isClosed() ? 'closed' : 'unavailable', `PostgresTransport: no LISTEN connection to ${this.safeUrl} (${this.state})`),
      );
    }
    if (this.probe?.client === client) return this.probe.answered;
    const answered = client.query('SELECT 1').then(
      () => undefined,
      (error: unknown) => {
        this.lost(client, error as Error);
        throw error;
      },
    );
    const probe = { client, answered };
    this.probe = probe;
    const done = () => {
      if (this.probe === probe) this.probe = undefined;
    };
    answered.then(done, done);
    return answered;
  }

  /** The heartbeat: {@link ping}, for the periodic check and {@link checkEcho}'s; its failure is handled there. */
  private heartbeat(): void {
    if (!this.listener) return;
    this.ping().catch(() => undefined);
  }

  /**
   * Sends every publish waiting (not expired), up to {@link NOTIFY_BATCH}, in one statement: one round trip, and one
   * transaction whose notifications reach the listeners together, in order. A transaction's 500 changes, published at
   * once, went as 500 statements one after the other, so each worker heard them one by one and its live lists sent
   * each tab a frame per row; now as 5.
   */
  private notifyQueued(): Promise<void> {
    const batch: QueuedNotify[] = [];
    let taken = 0;
    while (taken < this.queued.length && batch.length < NOTIFY_BATCH) {
      const next = this.queued[taken++]!;
      if (!next.expired) batch.push(next);
    }
    this.queued = this.queued.slice(taken);
    const sending = this.notify(batch.map((entry) => entry.payload));
    for (const entry of batch) entry.sent = sending;
    return sending;
  }

  private async notify(payloads: readonly string[]): Promise<void> {
    // pg_notify calls of one row's target list run left to right: the notifications keep the call order.
    const statement = `SELECT ${payloads.map((_, index) => `pg_notify($1, $${index + 2})`).join(', ')}`;
    for (let attempt = 1; ; attempt += 1) {
      const pool = this.pool;
      if (!pool) throw new LiveTransportError('closed', 'PostgresTransport: closed before the change was sent');
      try {
        await pool.query(statement, [this.channel, ...payloads]);
        this.watchFirstEcho();
        this.checkEcho();
        return;
      } catch (error) {
        // A pooled connection killed by a server restart is only noticed when used: one retry on a fresh
        // connection covers it (receivers drop the duplicate if the first NOTIFY did go out).
        if (attempt === 1 && isConnectionFailure(error)) continue;
        const timedOut = isClientTimeout(error);
        throw new LiveTransportError(
          timedOut ? 'timeout' : 'unavailable',
          `PostgresTransport could not NOTIFY "${this.channel}" on ${this.safeUrl}: ${messageOf(error)}` +
            (timedOut ? '. The change may still reach the workers if Postgres acts on it later.' : ''),
          error,
        );
      }
    }
  }
}
