import { io, type Socket } from 'socket.io-client';

/**
 * The disconnect reasons after which Reflex's current `state.js` does not reconnect by itself: it opens its socket
 * with `reconnection: false` and retries on its own, except when the server ended the connection (`io server
 * disconnect`, a Socket.IO DISCONNECT packet) or the page did. After those the tab stays offline until it becomes
 * visible again or the user triggers an event.
 */
export const STATE_JS_FINAL_REASONS: readonly string[] = ['io server disconnect', 'io client disconnect'];

/**
 * Makes `socket` (opened with `reconnection: false`) follow `state.js`'s rule at its next disconnect: reconnect
 * unless the reason is one of {@link STATE_JS_FINAL_REASONS}. Resolves with the reason.
 */
export function reconnectLikeStateJs(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('disconnect', (reason: string) => {
      if (!STATE_JS_FINAL_REASONS.includes(reason)) socket.connect();
      resolve(reason);
    });
  });
}

/** `state.js` keeps its last 10 connection errors, and waits 200 ms per kept error before it tries again. */
export const STATE_JS_BACKOFF_STEP_MS = 200;
export const STATE_JS_KEPT_ERRORS = 10;

/**
 * A Socket.IO client that connects, retries and reconnects exactly as Reflex's current `state.js` does (its
 * `connect()`): `reconnection: false`, WebSocket only, `?token=`; on `connect_error` it retries after 200 ms times
 * the connection errors it keeps (the last 10, so 2 s at most), on a `disconnect` it reconnects at once unless the
 * reason is final ({@link STATE_JS_FINAL_REASONS}), and a successful connect clears its errors. A reconnect is
 * skipped while one is under way (`wait_connect`). It records what happened, so a test can tell whether the tab
 * came back, how often it tried, and whether it was left offline.
 */
export class StateJsTab {
  readonly socket: Socket;
  /** Handshakes that succeeded (`connect`). */
  connects = 0;
  /** Refused attempts (`connect_error`), with the server's `data` where it sent one. */
  readonly connectErrors: Array<{ message: string; data?: unknown }> = [];
  /** Disconnect reasons, in order. */
  readonly disconnects: string[] = [];
  /** Every `new_token` the server sent. */
  readonly newTokens: string[] = [];
  /** Every `bridge_error` received: `state.js` has no listener for them (it shows only the toasts the server sends as `event`). */
  readonly bridgeErrors: Array<{ code?: string; event?: string }> = [];
  /** Every `event` update received since the last connect. */
  updates: Array<{ delta?: Record<string, Record<string, unknown>> }> = [];
  /** The connection errors `state.js` keeps (cleared on connect). */
  private keptErrors = 0;
  private waitConnect = true;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    url: string,
    public token: string,
    options: { path?: string; headers?: Record<string, string> } = {},
  ) {
    this.socket = io(`${url}/_event`, {
      path: options.path ?? '/_event',
      transports: ['websocket'],
      reconnection: false,
      query: { token },
      extraHeaders: options.headers,
    });
    this.socket.on('connect', () => {
      this.waitConnect = false;
      this.keptErrors = 0;
      this.connects++;
      this.updates = [];
    });
    this.socket.on('connect_error', (error: Error & { data?: unknown }) => {
      this.waitConnect = false;
      this.connectErrors.push({ message: error.message, data: error.data });
      this.keptErrors = Math.min(this.keptErrors + 1, STATE_JS_KEPT_ERRORS);
      this.later(() => {
        if (!this.socket.connected) this.reconnect();
      }, STATE_JS_BACKOFF_STEP_MS * this.keptErrors);
    });
    this.socket.on('disconnect', (reason: string) => {
      this.waitConnect = false;
      this.disconnects.push(reason);
      if (!STATE_JS_FINAL_REASONS.includes(reason)) this.reconnect();
    });
    this.socket.on('new_token', (token: string) => {
      this.newTokens.push(token);
      this.token = token;
    });
    this.socket.on('event', (update: { delta?: Record<string, Record<string, unknown>> }) => this.updates.push(update));
    this.socket.on('bridge_error', (error: { code?: string; event?: string }) => this.bridgeErrors.push(error));
  }

  /** `state.js`'s `socket.current.reconnect()`: the token re-read, skipped while a connect is under way. */
  reconnect(): void {
    if (this.closed || this.socket.connected || this.waitConnect) return;
    this.waitConnect = true;
    this.socket.io.opts.query = { token: this.token };
    this.socket.connect();
  }

  /** Sends an event as `state.js` does (no acknowledgement). */
  send(name: string, payload: Record<string, unknown> = {}, pathname = '/'): void {
    this.socket.emit('event', { name, payload, router_data: { pathname, query: {}, asPath: pathname } });
  }

  /** The latest value of `state`'s var `name` received since the last connect (its wire name, `<name>_rx_state_`). */
  latest(state: string, name: string): unknown {
    for (let i = this.updates.length - 1; i >= 0; i--) {
      const vars = this.updates[i].delta?.[state];
      if (vars && `${name}_rx_state_` in vars) return vars[`${name}_rx_state_`];
    }
    return undefined;
  }

  /**
   * Resolves once `check` holds, looked at on every update received (no polling interval: a test that must answer
   * within a rate window waits for no timer), or `bridge_error`. Rejects after `timeoutMs`.
   */
  until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onEvent = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.socket.off('event', onEvent).off('bridge_error', onEvent);
        resolve();
      };
      const timer = setTimeout(() => {
        this.socket.off('event', onEvent).off('bridge_error', onEvent);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      // After the listeners that record what arrived.
      this.socket.on('event', onEvent).on('bridge_error', onEvent);
    });
  }

  /** Stops retrying and closes the socket (the page was closed). */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.socket.off();
    this.socket.disconnect();
  }

  private later(run: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }
}
