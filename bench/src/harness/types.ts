// Shapes exchanged between the orchestrator, the server processes and the load generators (over IPC, so
// JSON only: no functions, no class instances).

/** Which group of bench state classes a bridge server registers (see `server/bench-states.ts`). */
export type StateSuite = 'tiers' | 'modes' | 'growth' | 'memory';

/** A bare Socket.IO server answering every event with a delta of the same shape: the baseline. */
export interface EchoServerConfig {
  kind: 'echo';
  /**
   * Also serve `POST /login` with the bench app's auth stack and run its express-session + passport chain once
   * per event on a plain request (the baseline of the bridge's own cost on `full`).
   */
  chain?: boolean;
  /**
   * Also send one fenced EVALSHA (the shape of the Redis state store's save) to this Redis per event, answering after
   * its reply: the floor of a Redis-backed event (see the `state-store` benchmark).
   */
  redisUrl?: string;
  /**
   * Answer as a floor of a `none` event instead, written by hand on bare Socket.IO: `plain` (`server/state-floor.ts`)
   * validates, routes, runs a handler on the connection's state and answers what changed; `guarded`
   * (`server/guarded-state-floor.ts`) adds the guarantees the library gives such an event (connection budget, state
   * per token under a lock, ordered events, a per-event view, copy-on-write commit).
   */
  stateFloor?: 'plain' | 'guarded';
  /**
   * Start a Nest app in the same process first, left idle on its own port, so that the echo or floor runs in a process
   * like the module's servers: `tiers` is the bench app `none` is measured on (the module and the auth stack), `nest`
   * an empty Nest app on Express (no module). See docs/performance-investigations.md, "The floors in a Nest app's process".
   */
  besideApp?: 'tiers' | 'nest';
}

/** A Nest app serving ReflexBridge with one suite of bench states. */
export interface BridgeServerConfig {
  kind: 'bridge';
  suite: StateSuite;
  /** `bridge.mode` of the module options. */
  mode: 'full' | 'smart' | 'none';
  /**
   * Mount the app's auth stack: express-session (MemoryStore) + passport-local, on HTTP (`POST /login`) and
   * as `bridge.authMiddleware`.
   */
  auth: boolean;
  /** Turn fast auth on (see `server/fast-auth.ts`); the server answers `unavailable` while it cannot. */
  fastAuth?: boolean;
  /**
   * Events per connection per 10 s (`rateLimit.perConnection`) before `rate_limited`; by default the budget is
   * counted but never refuses (see `server/bench-rate-limit.ts`).
   */
  connectionBudget?: number;
}

/**
 * A peer a user might pick instead of this module (see `peers/`): `nest-gateway` is a hand-written Nest
 * `@WebSocketGateway` with a session guard; `reflex-django-core` is python-socketio on uvicorn running Django's
 * session and auth middleware per event (a Python process; its CPU time is read from /proc/<pid>/stat), and
 * `python-socketio` the same server with Django left out of the events.
 */
export interface PeerServerConfig {
  kind: 'peer';
  peer: 'nest-gateway' | 'reflex-django-core' | 'python-socketio';
}

export type ServerConfig = EchoServerConfig | BridgeServerConfig | PeerServerConfig;

/** What a server process answers to `start`. */
export type ServerStarted = { url: string } | { unavailable: string };

/** Server-side CPU time over a window opened by `cpuMark`. */
export interface ServerCpu {
  /** User + system CPU time, microseconds. */
  cpuUs: number;
  /** Times the server's main thread slept and was woken up in the window (NaN without /proc). */
  wakeups: number;
  wallMs: number;
  /** Session middleware runs in the window (bench apps with an auth stack; 0 otherwise). */
  sessionCalls: number;
  /**
   * Garbage-collection pauses of the server process's main thread in the window, ms (Node's `gc` performance
   * entries; this process's own, also when the CPU figures are a peer's).
   */
  gcPauseMs: number;
}

/** A server's allocations over one window (`--allocations`): the `.heapprofile` written, and the bytes it samples. */
export interface AllocationProfile {
  path: string;
  bytes: number;
}

/** The server process's memory after forced garbage collection. */
export interface ServerMemory {
  heapUsed: number;
  heapTotal: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

/** One event as the client sends it (`router_data` is added by the load generator). */
export interface WireEvent {
  name: string;
  payload?: Record<string, unknown>;
}

/** What one load generator process does. */
export interface LoadConfig {
  /** The server's base URL (`http://127.0.0.1:port`). */
  url: string;
  /** Engine.IO path and namespace. @default '/_event' */
  path?: string;
  /** Concurrent connections, each sending its events one after another (next one after the reply). */
  clients: number;
  /** Connections opened (and hydrated) at the same time during setup. @default 50 */
  connectConcurrency?: number;
  /** Log in over HTTP (`POST /login`) before connecting, and present the session cookie on the socket. */
  login?: { username: string; password: string };
  /** Send the Reflex hydrate sequence and wait for `is_hydrated` before anything else. */
  hydrate: boolean;
  /** Events each client sends once after hydrating, each awaited (e.g. filling a big list). */
  setup?: WireEvent[];
  /** The repeating pattern of events the clients send; client `i` starts at position `i`. */
  workload: WireEvent[];
  /** Also sum the JSON size of each reply (costs the load generator a little CPU). */
  measureBytes?: boolean;
}

/** Latency percentiles over one measured window, milliseconds. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  max: number;
}

/** What a load generator measured between `mark` and `stop`. */
export interface LoadStats {
  /** Replies received inside the window. */
  completed: number;
  /** Of those, `bridge_error` replies. */
  errors: number;
  firstError?: string;
  windowMs: number;
  /** Completed events per second. */
  throughput: number;
  latency: LatencySummary;
  /** The load generator's own CPU time over the window, microseconds (is the client the bottleneck?). */
  loadCpuUs: number;
  /** Mean JSON size of a reply, when `measureBytes` was set. */
  bytesPerReply?: number;
}
