// Baseline server of the live-latency benchmark (forked; never imported): a bare socket.io server that, per
// change, broadcasts to every connected socket the frame the bridge's live list would push for it (the same
// `event` name and JSON shape: `{delta: {<live state>: {ticks_rx_state_: [...rows]}}}`, so the same size).
// With `redisUrl` the broadcast goes through the socket.io Redis adapter: it is emitted by a second,
// client-less Server in this process on the same adapter channel, so it reaches the listening server's sockets
// only through Redis, as the bridge's change comes back through its Redis transport before the fan-out.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { serveRpc } from '../harness/rpc.js';
import { EXT_STATES } from './ext-states.js';

interface BroadcastConfig {
  redisUrl?: string;
}

const NAMESPACE = '/_event';
const ticks: { id: number; t: number }[] = [];
let http: HttpServer | undefined;
let io: Server | undefined;
let emitter: Server | undefined;
let seq = 0;
const cleanups: (() => Promise<unknown>)[] = [];

async function redisAdapterFor(server: Server, url: string): Promise<void> {
  // RESP2 without a command timeout, as the module's own connections speak with node-redis 5 and 6 alike.
  const pub = createClient({ url, RESP: 2, commandOptions: { timeout: undefined } });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  cleanups.push(() => pub.quit(), () => sub.quit());
  server.adapter(createAdapter(pub, sub, { key: 'bench:baseline' }));
}

async function start(config: BroadcastConfig): Promise<{ url: string }> {
  http = createServer();
  io = new Server(http, { path: NAMESPACE, transports: ['websocket'], serveClient: false });
  if (config.redisUrl) {
    await redisAdapterFor(io, config.redisUrl);
    emitter = new Server({ serveClient: false });
    await redisAdapterFor(emitter, config.redisUrl);
    // Create the namespaces now, so both adapters subscribe before the first change.
    emitter.of(NAMESPACE);
  }
  io.of(NAMESPACE);
  await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}` };
}

serveRpc(
  {
    start: (config: BroadcastConfig) => start(config),
    subscribers: () => io?.of(NAMESPACE).sockets.size ?? 0,
    /** Empties the list: each measurement starts from the empty list a newly subscribed bridge client has. */
    clear: () => {
      ticks.length = 0;
    },
    /** Appends a row carrying the publish time and broadcasts the whole list, as the bridge's delta has it. */
    publish: () => {
      if (!io) throw new Error('publish before start');
      const id = ++seq;
      const t = performance.timeOrigin + performance.now();
      ticks.push({ id, t });
      (emitter ?? io).of(NAMESPACE).emit('event', { delta: { [EXT_STATES.live]: { ticks_rx_state_: ticks } } });
      return id;
    },
  },
  async () => {
    // The emitter is never attached to an HTTP server (Server.close() would throw): closing its adapter is enough.
    await Promise.all([io?.close(), emitter?.of(NAMESPACE).adapter.close()]);
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  },
);
