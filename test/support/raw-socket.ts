import { randomUUID } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';

/** How long `until` and its relatives wait by default before failing. */
const DEFAULT_WAIT_MS = 20_000;

/** A StateUpdate as received. */
export interface Update {
  delta?: Record<string, Record<string, unknown>>;
  events?: Array<{ name: string; payload: Record<string, unknown> }>;
}

/**
 * The session cookie handoff an update carries, if any: the `{url, secret}` of a `_call_function` event under
 * `bridge_session_cookie`.
 */
export function handoffOf(update: Update): { url: string; secret: string } | undefined {
  for (const event of update.events ?? []) {
    const handoff = event.payload['bridge_session_cookie'] as { url: string; secret: string } | undefined;
    if (event.name === '_call_function' && handoff) return handoff;
  }
  return undefined;
}

/** A raw Socket.IO client on `/_event` that records every message, to pin the wire format. */
export class RawSocket {
  readonly updates: Update[] = [];
  readonly errors: Array<{ code: string; message: string; event?: string; details?: string[]; status?: number; retryAfterMs?: number }> = [];
  readonly newTokens: string[] = [];
  readonly socket: Socket;
  private waiters: Array<() => void> = [];

  /** `protocols`: the WebSocket subprotocols offered, as Reflex's `state.js` offers its version (`['0.9.12']`). */
  constructor(baseUrl: string, readonly token: string = randomUUID(), options: { headers?: Record<string, string>; path?: string; protocols?: string[] } = {}) {
    const path = options.path ?? '/_event';
    this.socket = io(`${baseUrl}${path}`, {
      path,
      transports: ['websocket'],
      query: { token },
      reconnection: false,
      forceNew: true,
      extraHeaders: options.headers,
      protocols: options.protocols,
    });
    this.socket.on('event', (update: Update) => this.push(() => this.updates.push(update)));
    this.socket.on('bridge_error', (error: RawSocket['errors'][number]) => this.push(() => this.errors.push(error)));
    this.socket.on('new_token', (token: string) => this.push(() => this.newTokens.push(token)));
  }

  /**
   * A socket on `baseUrl` that is connected and hydrated (the page's first event answered), ready to send events;
   * pushed onto `track` first, so the spec's cleanup closes it even when connecting fails.
   */
  static async hydrated(baseUrl: string, track?: RawSocket[]): Promise<RawSocket> {
    const socket = new RawSocket(baseUrl);
    track?.push(socket);
    await socket.connected();
    await socket.hydrate();
    return socket;
  }

  /** Resolves once connected; rejects with the server's reason when refused. */
  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.connected) return resolve();
      this.socket.once('connect', () => resolve());
      this.socket.once('connect_error', (error) => reject(error));
    });
  }

  send(name: string, payload: Record<string, unknown> = {}, routerData: Record<string, unknown> = { pathname: '/', asPath: '/' }): void {
    this.socket.emit('event', { name, payload, router_data: routerData });
  }

  /**
   * Waits until `predicate` holds, or fails after `timeoutMs`. It is checked on every message received and at
   * least every 20 ms (for conditions outside this socket, such as a log line). The default deadline is generous:
   * a loaded CI machine may take seconds for what takes milliseconds here, and a deadline only bounds a failure.
   */
  async until(predicate: () => boolean, timeoutMs = DEFAULT_WAIT_MS, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${what}; updates: ${JSON.stringify(this.updates).slice(0, 2000)}; errors: ${JSON.stringify(this.errors)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 20));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The latest value of `var` of state `fullName` across every delta received. */
  latest(fullName: string, name: string): unknown {
    let value: unknown;
    for (const update of this.updates) {
      const vars = update.delta?.[fullName];
      if (vars && `${name}_rx_state_` in vars) value = vars[`${name}_rx_state_`];
    }
    return value;
  }

  /** Waits until `var` of `fullName` equals `expected` (deep). */
  async untilVar(fullName: string, name: string, expected: unknown, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await this.until(() => JSON.stringify(this.latest(fullName, name)) === JSON.stringify(expected), timeoutMs, `${fullName}.${name} = ${JSON.stringify(expected)}`);
  }

  /** Sends the Reflex hydrate sequence and waits for `is_hydrated` to become true. */
  async hydrate(routerData: Record<string, unknown> = { pathname: '/', asPath: '/' }): Promise<void> {
    const before = this.updates.length;
    this.send('reflex___state____state.hydrate', {}, routerData);
    this.send('reflex___state____state.reflex___state____on_load_internal_state.on_load_internal', {}, routerData);
    await this.until(
      () => this.updates.slice(before).some((u) => u.delta?.['reflex___state____state']?.['is_hydrated_rx_state_'] === true),
      DEFAULT_WAIT_MS,
      'hydration',
    );
  }

  /**
   * The session cookie handoffs received, in order: the `{url, secret}` a `_call_function` event carries under
   * `bridge_session_cookie` (what Reflex's client runs and `@reflex-bridge/client` reads).
   */
  handoffs(): Array<{ url: string; secret: string; function: string }> {
    const found: Array<{ url: string; secret: string; function: string }> = [];
    for (const update of this.updates) {
      for (const event of update.events ?? []) {
        const handoff = event.payload['bridge_session_cookie'] as { url: string; secret: string } | undefined;
        if (event.name === '_call_function' && handoff) found.push({ ...handoff, function: event.payload['function'] as string });
      }
    }
    return found;
  }

  /** Waits for the next session cookie handoff (the `count`-th overall, 1-based) and returns it. */
  async untilHandoff(count = 1, timeoutMs = DEFAULT_WAIT_MS): Promise<{ url: string; secret: string; function: string }> {
    await this.until(() => this.handoffs().length >= count, timeoutMs, 'a session cookie handoff');
    return this.handoffs()[count - 1]!;
  }

  /** Sends `ping` and resolves on its answer: the server has read every frame this socket sent before it. */
  ping(): Promise<void> {
    return new Promise((resolve) => {
      this.socket.once('ping', () => resolve());
      this.socket.emit('ping');
    });
  }

  close(): void {
    this.socket.disconnect();
  }

  private push(record: () => void): void {
    record();
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
