// The floor under the Redis state store's cost per event: the server CPU of one bare Redis round trip, sent one
// after another (as the one-client window of `state-store` sends its saves), measured three ways:
//   - node-redis `sendCommand` of the same fenced EVALSHA a save sends (what the store pays at least);
//   - node-redis `sendCommand` of a PING (node-redis's own machinery, without the script's arguments);
//   - a raw `net` socket writing the same pre-encoded EVALSHA (the kernel's and the event loop's share alone).
// Usage: node bench/dist/tools/redis-round-trip.js [--count=20000]
import { connect } from 'node:net';
import { createClient } from 'redis';
import { RedisProcess } from '../ext/redis-process.js';

const count = Number(process.argv.find((arg) => arg.startsWith('--count='))?.slice('--count='.length) ?? 20_000);

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

async function measure(name: string, op: () => Promise<unknown>): Promise<Figure> {
  for (let i = 0; i < 2_000; i++) await op(); // warm-up
  const start = process.cpuUsage();
  const at = performance.now();
  for (let i = 0; i < count; i++) await op();
  const used = process.cpuUsage(start);
  return { name, cpuUsPerOp: (used.user + used.system) / count, wallUsPerOp: ((performance.now() - at) * 1000) / count };
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
  const client = createClient({ url: redis.url, disableOfflineQueue: true });
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
    console.log(`redis-round-trip: ${count} sequential round trips each, Node ${process.version}`);
    for (const figure of figures) {
      console.log(`  ${figure.name.padEnd(42)} ${figure.cpuUsPerOp.toFixed(1).padStart(7)} us CPU/op  ${figure.wallUsPerOp.toFixed(1).padStart(7)} us wall/op`);
    }
  } finally {
    await client.quit().catch(() => undefined);
    await redis.stop();
  }
}

await main();
