// The floor under the Redis state store's cost per event: the server CPU of one bare Redis round trip, sent one
// after another (as the one-client window of `state-store` sends its saves), measured three ways:
//   - node-redis `sendCommand` of the same fenced EVALSHA a save sends (what the store pays at least);
//   - node-redis `sendCommand` of a PING (node-redis's own machinery, without the script's arguments);
//   - a raw `net` socket writing the same pre-encoded EVALSHA (the kernel's and the event loop's share alone).
// Then the RedisStateStore's own event loop on a kept lock (tryAcquireSync, save of one changed state, release),
// one token at a time and 32 tokens at once, against the bare EVALSHA at the same concurrency: what the store adds
// to the round trip, free of the event loop's sleeps (at 32 the process never waits). `--lib=DIR` measures another
// build of the library (e.g. .tmp/before/libs/reflex-bridge/dist) in the same way.
// Usage: node bench/dist/tools/redis-round-trip.js [--count=20000] [--lib=DIR]
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createClient } from 'redis';
import { RedisProcess } from '../ext/redis-process.js';

const flag = (name: string) => process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const count = Number(flag('count') ?? 20_000);
const lib = flag('lib');

// The shape of the store's SAVE_SCRIPT: a fencing check, one HSET, one PEXPIRE.
const SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`;
const VALUE = '0b8f6c9e-8e57-4d7b-a6a4-1c0f2b0e6a11:42';
const SUBSTATE = JSON.stringify({ count_rx_state_: 41, label_rx_state_: 'store bench', items_rx_state_: [1, 2, 3] });

interface Figure {
  name: string;
  cpuUsPerOp: number;
  wallUsPerOp: number;
}

/** CPU and wall time per call of `op(lane, i)`, with `lanes` callers each calling it one after another. */
async function measure(name: string, op: (lane: number, i: number) => Promise<unknown>, lanes = 1): Promise<Figure> {
  const run = async (n: number) => {
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        for (let i = 0; i < n / lanes; i++) await op(lane, i);
      }),
    );
  };
  await run(Math.min(count, 4_000)); // warm-up
  const start = process.cpuUsage();
  const at = performance.now();
  await run(count);
  const used = process.cpuUsage(start);
  return { name, cpuUsPerOp: (used.user + used.system) / count, wallUsPerOp: ((performance.now() - at) * 1000) / count };
}

interface StoreLease {
  state: Record<string, Record<string, unknown>> | null;
  save(state: Record<string, Record<string, unknown>>): Promise<void> | void;
  release(): Promise<void> | void;
}
interface Store {
  connect(): Promise<void>;
  acquire(token: string): Promise<StoreLease>;
  tryAcquireSync(token: string): StoreLease | undefined;
  close(): Promise<void>;
}

/** The store's event on a kept lock, as the pipeline runs it: the lease, a copy-on-write save of one state, release. */
async function storeFigures(url: string, bare: (lane: number) => Promise<unknown>): Promise<Figure[]> {
  const from = lib ? pathToFileURL(resolve(lib, 'index.js')).href : '@reflex-bridge/nest';
  const { RedisStateStore } = (await import(from)) as { RedisStateStore: new (options: object) => Store };
  const silent = { log: () => undefined, warn: () => undefined, error: () => undefined };
  const store = new RedisStateStore({ url, logger: silent });
  await store.connect();
  const router = { headers: { host: '127.0.0.1', 'user-agent': 'bench' }, pathname: '/' };
  const tokens = Array.from({ length: 32 }, (_, i) => `bench-token-${i}`);
  const event = async (lane: number, i: number) => {
    const token = tokens[lane]!;
    const lease = store.tryAcquireSync(token) ?? (await store.acquire(token));
    const tree = lease.state ?? { root: { router }, 'root.store_bench_state': { count: 0, label: 'store bench', items: ['a', 'b', 'c', 'd'] } };
    const next = Object.assign({}, tree);
    next['root.store_bench_state'] = Object.assign({}, tree['root.store_bench_state'], { count: i });
    try {
      await lease.save(next);
    } finally {
      await lease.release();
    }
  };
  try {
    return [
      await measure('store event on a kept lock, 1 token', event),
      await measure('bare EVALSHA, 1 at a time', (lane) => bare(lane)),
      await measure('store event on a kept lock, 32 tokens', event, 32),
      await measure('bare EVALSHA, 32 at a time', (lane) => bare(lane), 32),
    ];
  } finally {
    await store.close();
  }
}

function encode(args: string[]): Buffer {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
  return Buffer.from(out);
}

async function main(): Promise<void> {
  const redis = await RedisProcess.start();
  if ('unavailable' in redis) {
    console.log(`redis-round-trip: ${redis.unavailable}`);
    return;
  }
  // RESP2 without a command timeout, as the module's own connections speak with node-redis 5 and 6 alike.
  const client = createClient({ url: redis.url, disableOfflineQueue: true, RESP: 2, commandOptions: { timeout: undefined } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const sha = (await client.sendCommand(['SCRIPT', 'LOAD', SCRIPT])) as string;
    const lock = 'rx:state:v2:{tok}:lock';
    const state = 'rx:state:v2:{tok}';
    await client.sendCommand(['SET', lock, VALUE]);
    const args = () => ['EVALSHA', sha, '2', lock, state, VALUE, '3600000', 'rx.state.store_bench_state', SUBSTATE];
    const figures: Figure[] = [];
    figures.push(await measure('node-redis EVALSHA (fenced save)', () => client.sendCommand(args())));
    figures.push(...(await storeFigures(redis.url, () => client.sendCommand(args()))));
    figures.push(await measure('node-redis PING', () => client.sendCommand(['PING'])));

    const port = Number(new URL(redis.url).port);
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const frame = encode(args());
    let waiting: (() => void) | undefined;
    socket.on('data', () => {
      const resolve = waiting;
      waiting = undefined;
      resolve?.();
    });
    figures.push(
      await measure('raw socket EVALSHA (no client library)', () => {
        const replied = new Promise<void>((resolve) => (waiting = resolve));
        socket.write(frame);
        return replied;
      }),
    );
    socket.destroy();
    console.log(`redis-round-trip: ${count} round trips each, Node ${process.version}${lib ? `, library ${lib}` : ''}`);
    for (const figure of figures) {
      console.log(`  ${figure.name.padEnd(42)} ${figure.cpuUsPerOp.toFixed(1).padStart(7)} us CPU/op  ${figure.wallUsPerOp.toFixed(1).padStart(7)} us wall/op`);
    }
  } finally {
    await client.quit().catch(() => undefined);
    await redis.stop();
  }
}

await main();
