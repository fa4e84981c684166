// Instructions per event: the user-space instructions a server executes per event, counted by valgrind's callgrind,
// for the bare Socket.IO echo and the `tiers` app's events, one client sending one event after another. Unlike server
// CPU time, the count does not move with the machine's load or the CPU's caches: the same build gives the same count
// within about 1%, so a change of a few hundred instructions on the event path shows up, where `npm run bench`'s
// time figures move by tens of microseconds between windows. It does not count the kernel (socket reads and writes)
// nor what a cold cache costs, so it says what the code does, not what an event costs in time: read the ratios
// next to `tiers/*/server_cpu`.
//
// Each server runs under callgrind with counting off; it is switched on for a window once the server is warm (the
// JIT has compiled the event path), and the load generator counts the events completed in it.
//
// Usage: node bench/dist/tools/instructions-per-event.js [--window=6000] [--warmup=15000] [--lib=DIR] [echo|none|fast|auth_only|full|chain ...]
// (default: echo none fast full). Needs valgrind (Debian's `valgrind` package: callgrind and callgrind_control).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LoadProcess, ServerProcess } from '../harness/processes.js';
import type { LoadConfig, ServerConfig } from '../harness/types.js';
import { BENCH_LOGIN, ECHO_STATE, event, TIER_STATES } from '../harness/wire.js';

const flag = (name: string) => process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const windowMs = Number(flag('window') ?? 6_000);
const warmupMs = Number(flag('warmup') ?? 15_000);
const lib = flag('lib');
if (lib) process.env.BENCH_REFLEX_LIB = resolve(lib);
const ids = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));

const TIERS_APP: ServerConfig = { kind: 'bridge', suite: 'tiers', mode: 'full', auth: true };

/** What each id runs: the server, and the event its one client sends (as `npm run bench -- tiers` does). */
const SCENARIOS: Record<string, { server: ServerConfig; load: Omit<LoadConfig, 'url' | 'clients' | 'hydrate'> }> = {
  echo: { server: { kind: 'echo' }, load: { workload: [event(`${ECHO_STATE}.bump`)] } },
  chain: { server: { kind: 'echo', chain: true }, load: { login: BENCH_LOGIN, workload: [event(`${ECHO_STATE}.bump`)] } },
  none: { server: TIERS_APP, load: { login: BENCH_LOGIN, workload: [event(`${TIER_STATES.none}.bump`)] } },
  auth_only: { server: TIERS_APP, load: { login: BENCH_LOGIN, workload: [event(`${TIER_STATES.auth_only}.bump`)] } },
  fast: { server: { ...TIERS_APP, fastAuth: true }, load: { login: BENCH_LOGIN, workload: [event(`${TIER_STATES.auth_only}.bump`)] } },
  full: { server: TIERS_APP, load: { login: BENCH_LOGIN, workload: [event(`${TIER_STATES.full}.bump`)] } },
};

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

function callgrindControl(...args: string[]): void {
  execFileSync('callgrind_control', args, { stdio: 'ignore' });
}

/** The instructions counted in a callgrind dump: the largest `totals:`/`summary:` line of its files. */
function countedInstructions(dir: string, pid: number): number {
  let total = 0;
  for (const file of readdirSync(dir).filter((name) => name.startsWith(`${pid}.out`))) {
    for (const match of readFileSync(join(dir, file), 'utf8').matchAll(/^(?:totals|summary): (\d+)/gm)) total = Math.max(total, Number(match[1]));
  }
  return total;
}

/** Instructions per event of one scenario: its server under callgrind, counting during one window. */
async function measure(id: string, dir: string): Promise<{ events: number; perEvent: number }> {
  const scenario = SCENARIOS[id];
  if (!scenario) throw new Error(`Unknown scenario "${id}" (known: ${Object.keys(SCENARIOS).join(', ')})`);
  const wrapper = { command: 'valgrind', args: ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${dir}/%p.out`, '-q'] };
  const server = await ServerProcess.start(id, scenario.server, wrapper);
  if (!(server instanceof ServerProcess)) throw new Error(`${id}: ${server.unavailable}`);
  const pid = String(server.pid);
  const load = await LoadProcess.setup(id, { ...scenario.load, url: server.url, clients: 1, hydrate: true });
  try {
    await load.start();
    await sleep(warmupMs);
    callgrindControl('--zero', pid);
    callgrindControl('--instr=on', pid);
    await load.mark();
    await sleep(windowMs);
    const stats = await load.stop();
    callgrindControl('--instr=off', pid);
    callgrindControl('--dump', pid);
    if (stats.errors > 0) throw new Error(`${id}: ${stats.errors} events failed; first: ${stats.firstError}`);
    return { events: stats.completed, perEvent: countedInstructions(dir, Number(pid)) / stats.completed };
  } finally {
    await load.close();
    await server.stop();
  }
}

async function main(): Promise<void> {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('valgrind is not installed (Debian: apt-get install valgrind)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-callgrind-'));
  try {
    const figures = new Map<string, { events: number; perEvent: number }>();
    for (const id of ids.length > 0 ? ids : ['echo', 'none', 'fast', 'full']) {
      figures.set(id, await measure(id, dir));
      const { events, perEvent } = figures.get(id)!;
      const echo = figures.get('echo');
      const ratio = echo && id !== 'echo' ? `  ${(perEvent / echo.perEvent).toFixed(3)}× echo` : '';
      console.log(`${id.padEnd(10)} ${Math.round(perEvent).toLocaleString('en-US').padStart(9)} instructions/event  (${events} events)${ratio}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
