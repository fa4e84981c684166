import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RequestHandler } from 'express';
import { Server } from 'socket.io';
import { ECHO_STATE, ON_LOAD_INTERNAL, ROOT } from '../harness/wire.js';
import { PlainResponse } from './plain-response.js';
import { serveStateFloor } from './state-floor.js';
import { serveGuardedStateFloor, type FloorLock, type FloorTree } from './guarded-state-floor.js';

/** A running baseline server. */
export interface EchoServer {
  url: string;
  close(): Promise<void>;
  /** Session middleware runs so far (the `chain` variant; 0 otherwise). */
  sessionCalls(): number;
}

/**
 * The baseline: bare Socket.IO (the version the library uses), WebSocket transport only, the same path and
 * namespace (`/_event`) and the same message shape: it receives `event` `{name, payload, router_data}` and
 * answers `event` `{delta: {...}}`. It does the least a server can do per event (bump a per-socket counter),
 * so the bridge's ratio to it is the price of everything the bridge adds.
 *
 * With `chain`, it also serves `POST /login` with the bench app's auth stack (`auth-stack.ts`: express-session on
 * a MemoryStore + passport) and runs that same chain once per event, alone, on a plain request carrying the
 * socket's handshake cookie, ending the response before it answers (as a `full` event does). `full` minus this is
 * what the bridge itself costs beyond the app's own middleware.
 *
 * With `stateFloor`, every connection is answered by a floor of a `none` event instead: what a state server must do
 * per event beyond this echo, written by hand (`state-floor.ts`), or that with the library's guarantees
 * (`guarded-state-floor.ts`).
 */
export async function startEchoServer(options: { chain?: boolean; redisUrl?: string; stateFloor?: 'plain' | 'guarded' } = {}): Promise<EchoServer> {
  const chain = options.chain ? await authChain() : undefined;
  const redis = options.redisUrl ? await redisRoundTrip(options.redisUrl) : undefined;
  const http = createServer(chain?.app);
  const io = new Server(http, { path: '/_event', transports: ['websocket'], allowUpgrades: false, serveClient: false });
  const namespace = io.of('/_event');
  // The guarded floor's states and locks, by client token (shared by its connections, as a store is).
  const floorTrees = new Map<string, FloorTree>();
  const floorLocks = new Map<string, FloorLock>();
  namespace.on('connection', (socket) => {
    if (options.stateFloor === 'plain') {
      serveStateFloor(socket);
      return;
    }
    if (options.stateFloor === 'guarded') {
      serveGuardedStateFloor(socket, floorTrees, floorLocks);
      return;
    }
    let count = 0;
    const headers = socket.handshake.headers;
    const answer = (frame: { name?: unknown }) => {
      // The hydrate sequence ends with is_hydrated, as the bridge does, so the load generator needs no special case.
      if (frame?.name === ON_LOAD_INTERNAL) {
        socket.emit('event', { delta: { [ROOT]: { is_hydrated_rx_state_: true } } });
        return;
      }
      socket.emit('event', { delta: { [ECHO_STATE]: { count_rx_state_: ++count } } });
    };
    socket.on('event', (frame: { name?: unknown }) => {
      if (redis) redis.send(socket.id).then(() => answer(frame), (error: unknown) => socket.emit('bridge_error', { code: 'redis', message: String(error) }));
      else if (!chain) answer(frame);
      else chain.run(headers, () => answer(frame));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sessionCalls: () => chain?.calls.session ?? 0,
    close: async () => {
      io.disconnectSockets(true);
      await io.close();
      await redis?.close();
    },
  };
}

/**
 * The plain request the chain runs on, one per event. A class, as Express's own request is, not an object literal:
 * V8 may allocate a literal's objects straight into the old generation (allocation-site pretenuring), and a dead
 * old request keeps everything the middleware hung on it alive through young collections (measured: 1.8 MB promoted
 * per scavenge at 50 clients in every run with a literal here).
 */
class PlainRequest {
  readonly method = 'POST';
  url = '/';
  originalUrl = '/';

  constructor(readonly headers: Record<string, unknown>) {}
}

/** The bench app's auth stack on a bare express app (for `POST /login`), and a runner of its chain per event. */
async function authChain() {
  // Loaded only for this variant, so the plain echo's memory baseline stays bare.
  const { default: express } = await import('express');
  const { createAuthStack } = await import('./auth-stack.js');
  const stack = createAuthStack();
  const app = express();
  app.use(stack.authMiddleware);
  app.post('/login', express.json(), stack.passport.authenticate('local'), (_req, res) => {
    res.json({ ok: true });
  });
  const middleware: RequestHandler[] = stack.authMiddleware;
  const run = (headers: Record<string, unknown>, done: () => void) => {
    const request = new PlainRequest(headers) as unknown as Parameters<RequestHandler>[0];
    const response = new PlainResponse() as unknown as Parameters<RequestHandler>[1];
    const step = (index: number) => (error?: unknown) => {
      if (error) throw error instanceof Error ? error : new Error(String(error));
      if (index < middleware.length) {
        middleware[index](request, response, step(index + 1));
        return;
      }
      // The app's handler would run here; the response ends (express-session touches the session) and then answers.
      response.end();
      done();
    };
    step(0)();
  };
  return { app, calls: stack.calls, run };
}

/**
 * The `redisUrl` variant: one Redis round trip per event, the least a Redis-backed state store can do (the save must
 * be answered before the reply, or a killed worker loses a change its client saw): the same shape of fenced EVALSHA
 * the `RedisStateStore` sends (check the lock, HSET the changed state, PEXPIRE), sent with node-redis's
 * `sendCommand` on a fail-fast connection. The state-store benchmark's floor.
 */
async function redisRoundTrip(url: string) {
  const { createClient } = await import('redis');
  // RESP2 without a command timeout, as the module's own connections speak with node-redis 5 and 6 alike.
  const client = createClient({ url, disableOfflineQueue: true, RESP: 2, commandOptions: { timeout: undefined } });
  client.on('error', () => undefined);
  await client.connect();
  const script = [
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end",
    "redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])",
    "redis.call('PEXPIRE', KEYS[2], ARGV[2])",
    'return 1',
  ].join('\n');
  const sha = (await client.sendCommand(['SCRIPT', 'LOAD', script])) as string;
  const value = '0b8f6c9e-8e57-4d7b-a6a4-1c0f2b0e6a11:1';
  const counts = new Map<string, number>();
  return {
    send: async (sid: string) => {
      const count = (counts.get(sid) ?? 0) + 1;
      counts.set(sid, count);
      const lock = `echo:{${sid}}:lock`;
      if (count === 1) await client.sendCommand(['SET', lock, value]);
      const written = await client.sendCommand(['EVALSHA', sha, '2', lock, `echo:{${sid}}`, value, '3600000', ECHO_STATE, JSON.stringify({ count_rx_state_: count })]);
      if ((written as unknown) !== 1) throw new Error(`the fenced write was refused (${String(written)})`);
    },
    close: () => client.quit().then(() => undefined, () => undefined),
  };
}
