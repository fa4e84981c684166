// A subscriber process for the live-latency benchmark (forked; never imported): N socket.io clients that
// hydrate, call the live state's `live_subscribe`, and time each pushed row from its publish time `t`
// (both processes read performance.timeOrigin + performance.now(), the same clock on one machine).
import { randomUUID } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { serveRpc } from '../harness/rpc.js';
import { summarize } from '../harness/stats.js';
import { HYDRATE, ON_LOAD_INTERNAL } from '../harness/wire.js';
import { EXT_STATES } from './ext-states.js';

const ROUTER_DATA = { pathname: '/', asPath: '/', query: {} };
const sockets: Socket[] = [];
const latencies: number[] = [];
/** JSON size of the last frame the first socket received (the bridge's and the baseline's must match). */
let frameBytes = 0;
let sizer = false;

function connect(url: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(`${url}/_event`, { path: '/_event', transports: ['websocket'], query: { token: randomUUID() }, reconnection: false, forceNew: true });
    let seen = 0;
    const measuresSize = !sizer;
    sizer = true;
    socket.on('event', (update: { delta?: Record<string, Record<string, unknown>> }) => {
      const ticks = update.delta?.[EXT_STATES.live]?.['ticks_rx_state_'] as Array<{ t: number }> | undefined;
      if (!ticks || ticks.length <= seen) return;
      const received = performance.timeOrigin + performance.now();
      for (const tick of ticks.slice(seen)) latencies.push(received - tick.t);
      seen = ticks.length;
      if (measuresSize) frameBytes = Buffer.byteLength(JSON.stringify(update));
    });
    socket.once('connect_error', reject);
    socket.once('connect', () => {
      socket.emit('event', { name: HYDRATE, payload: {}, router_data: ROUTER_DATA });
      socket.emit('event', { name: ON_LOAD_INTERNAL, payload: {}, router_data: ROUTER_DATA });
      socket.emit('event', { name: `${EXT_STATES.live}.live_subscribe`, payload: {}, router_data: ROUTER_DATA });
      resolve(socket);
    });
  });
}

serveRpc(
  {
    setup: async ({ url, clients }: { url: string; clients: number }) => {
      for (let i = 0; i < clients; i += 50) {
        sockets.push(...(await Promise.all(Array.from({ length: Math.min(50, clients - i) }, () => connect(url)))));
      }
    },
    reset: () => {
      latencies.length = 0;
    },
    count: () => latencies.length,
    /** The latencies themselves (the orchestrator merges several subscriber processes' before summarizing). */
    latencies: () => latencies,
    frameBytes: () => frameBytes,
    stats: () => ({ count: latencies.length, ...summarize(Float64Array.from(latencies).sort()) }),
    close: () => {
      for (const socket of sockets.splice(0)) socket.disconnect();
    },
  },
  async () => {
    for (const socket of sockets.splice(0)) socket.disconnect();
  },
);
