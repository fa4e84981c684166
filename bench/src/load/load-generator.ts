// A load generator process (forked by the orchestrator; never imported): N socket.io-client connections, each
// sending its events one after another (the next one as soon as the reply to the previous one arrived), timing
// every round trip. Driven over IPC: setup → start (warm-up) → mark (window opens) → stop (window closes,
// in-flight replies drain, stats) → close.
import { randomUUID } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { serveRpc } from '../harness/rpc.js';
import { summarize } from '../harness/stats.js';
import type { LoadConfig, LoadStats, WireEvent } from '../harness/types.js';
import { HYDRATE, ON_LOAD_INTERNAL, ROOT } from '../harness/wire.js';

const ROUTER_DATA = { pathname: '/', asPath: '/', query: {} };

interface Update {
  delta?: Record<string, Record<string, unknown>>;
  events?: unknown[];
}

/** Grows by doubling; holds the latencies of one window. */
class Samples {
  private data = new Float64Array(1 << 16);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

/** What every client of this process reports into. */
class Window {
  measuring = false;
  running = false;
  completed = 0;
  errors = 0;
  firstError?: string;
  bytes = 0;
  samples = new Samples();
  inFlight = 0;
  onIdle?: () => void;
}

class BenchClient {
  readonly socket: Socket;
  private sentAt = 0;
  private inFlight = false;
  private cursor: number;
  /** During setup: resolves the awaited reply (returns true when it was the one). */
  private waiter?: (update: Update | undefined, error?: unknown) => boolean;

  constructor(
    private readonly config: LoadConfig,
    private readonly window: Window,
    index: number,
    cookie: string | undefined,
  ) {
    const path = config.path ?? '/_event';
    this.cursor = index % Math.max(1, config.workload.length);
    this.socket = io(`${config.url}${path}`, {
      path,
      transports: ['websocket'],
      query: { token: randomUUID() },
      reconnection: false,
      forceNew: true,
      extraHeaders: cookie ? { cookie } : undefined,
    });
    this.socket.on('event', (update: Update) => this.onReply(update, undefined));
    this.socket.on('bridge_error', (error: unknown) => this.onReply(undefined, error ?? 'bridge_error'));
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.connected) return resolve();
      this.socket.once('connect', () => resolve());
      this.socket.once('connect_error', (error) => reject(error));
    });
  }

  /** Sends `event` and waits for the reply `accept` recognises (setup only; errors reject). */
  request(event: WireEvent, accept: (update: Update) => boolean = (update) => Boolean(update.delta)): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${event.name} within 30 s`)), 30_000);
      this.waiter = (update, error) => {
        if (error !== undefined) {
          clearTimeout(timer);
          reject(new Error(`${event.name}: ${JSON.stringify(error)}`));
          return true;
        }
        if (!update || !accept(update)) return false;
        clearTimeout(timer);
        resolve();
        return true;
      };
      this.emit(event);
    });
  }

  async hydrate(): Promise<void> {
    this.emit({ name: HYDRATE });
    await this.request({ name: ON_LOAD_INTERNAL }, (update) => update.delta?.[ROOT]?.['is_hydrated_rx_state_'] === true);
  }

  /** Starts this client's sequential loop. */
  start(): void {
    if (!this.inFlight) this.sendNext();
  }

  close(): void {
    this.socket.disconnect();
  }

  private emit(event: WireEvent): void {
    this.socket.emit('event', { name: event.name, payload: event.payload ?? {}, router_data: ROUTER_DATA });
  }

  private sendNext(): void {
    const workload = this.config.workload;
    const event = workload[this.cursor];
    this.cursor = (this.cursor + 1) % workload.length;
    this.inFlight = true;
    this.window.inFlight++;
    this.sentAt = performance.now();
    this.emit(event);
  }

  private onReply(update: Update | undefined, error: unknown): void {
    if (this.waiter) {
      if (this.waiter(update, error)) this.waiter = undefined;
      return;
    }
    // Only a delta (or an error) answers an event; an events-only message (e.g. a cookie handoff) does not.
    if (!this.inFlight || (error === undefined && !update?.delta)) return;
    const latency = performance.now() - this.sentAt;
    this.inFlight = false;
    const window = this.window;
    window.inFlight--;
    if (window.measuring) {
      window.completed++;
      window.samples.push(latency);
      if (error !== undefined) {
        window.errors++;
        window.firstError ??= JSON.stringify(error);
      }
      if (this.config.measureBytes && update) window.bytes += JSON.stringify(update).length;
    }
    if (window.running) this.sendNext();
    else if (window.inFlight === 0) window.onIdle?.();
  }
}

async function login(config: LoadConfig): Promise<string | undefined> {
  if (!config.login) return undefined;
  const response = await fetch(`${config.url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(config.login),
  });
  const setCookie = response.headers.get('set-cookie');
  if (response.status !== 200 || !setCookie) throw new Error(`login failed: HTTP ${response.status}`);
  return setCookie.split(';')[0];
}

let config: LoadConfig | undefined;
let clients: BenchClient[] = [];
let window = new Window();
let markedAt = 0;
let markedCpu: NodeJS.CpuUsage | undefined;

serveRpc(
  {
    /** Opens, logs in, hydrates and sets up every connection (`connectConcurrency` at a time). */
    setup: async (params: LoadConfig) => {
      config = params;
      window = new Window();
      const started = performance.now();
      const concurrency = params.connectConcurrency ?? 50;
      const all: BenchClient[] = [];
      for (let first = 0; first < params.clients; first += concurrency) {
        const batch = Array.from({ length: Math.min(concurrency, params.clients - first) }, (_, i) => first + i);
        all.push(
          ...(await Promise.all(
            batch.map(async (index) => {
              const client = new BenchClient(params, window, index, await login(params));
              await client.connected();
              if (params.hydrate) await client.hydrate();
              for (const event of params.setup ?? []) await client.request(event);
              return client;
            }),
          )),
        );
      }
      clients = all;
      return { clients: clients.length, setupMs: performance.now() - started };
    },
    /** Every client starts its loop (the warm-up: nothing is counted yet). */
    start: () => {
      if (!config?.workload.length) throw new Error('start: no workload');
      window.running = true;
      for (const client of clients) client.start();
    },
    /** Opens the measured window. */
    mark: () => {
      window.completed = 0;
      window.errors = 0;
      window.bytes = 0;
      window.samples = new Samples();
      window.measuring = true;
      markedAt = performance.now();
      markedCpu = process.cpuUsage();
    },
    /** Closes the window, stops sending, waits for the replies in flight, and reports. */
    stop: async (): Promise<LoadStats> => {
      const windowMs = performance.now() - markedAt;
      window.measuring = false;
      window.running = false;
      const cpu = process.cpuUsage(markedCpu);
      if (window.inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 10_000);
          window.onIdle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return {
        completed: window.completed,
        errors: window.errors,
        firstError: window.firstError,
        windowMs,
        throughput: (window.completed / windowMs) * 1000,
        latency: summarize(window.samples.view()),
        loadCpuUs: cpu.user + cpu.system,
        bytesPerReply: config?.measureBytes && window.completed ? window.bytes / window.completed : undefined,
      };
    },
    /** Disconnects every client. */
    close: async () => {
      for (const client of clients) client.close();
      clients = [];
      // Let the close frames go out before the process is asked to exit.
      await new Promise((resolve) => setTimeout(resolve, 100));
    },
  },
  async () => {
    for (const client of clients) client.close();
  },
);
