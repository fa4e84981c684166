import { isMain, measurePlan, otherLoadFigure, runBenchmarks, type Benchmark, type BenchContext, type PlannedRun } from '../harness/benchmark.js';
import { ServerProcess } from '../harness/processes.js';
import { boundedBy, compared, reported, unavailable, type BenchResult, type Target } from '../harness/results.js';
import type { BridgeServerConfig, LoadConfig, ServerConfig, WireEvent } from '../harness/types.js';
import { BENCH_LOGIN, ECHO_STATE, event, TIER_STATES } from '../harness/wire.js';
import { PEER_STATE } from '../peers/peer-wire.js';

/** One tier scenario: the bench app it runs against, the event it sends, and its throughput target. */
export interface TierScenario {
  id: string;
  server: ServerConfig;
  event: WireEvent;
  /** Target on throughput with `--clients` clients, as a ratio to the bare echo. */
  throughputTarget?: Target;
  /** The throughput row's note, where the harness cannot count the session middleware's runs (another process). */
  note?: string;
  /** Target on server CPU per event (one client), as a ratio to the bare echo's. */
  serverCpuTarget?: Target;
}

/**
 * Target on `full` minus the chain baseline (bare Socket.IO running the same express-session + passport chain per
 * event on a plain request): what the bridge itself costs beyond the app's middleware.
 */
const BRIDGE_COST_TARGET: Target = { text: '≤ 20 us/event beyond the chain', valueAtMost: 20 };

const TIERS_APP: BridgeServerConfig = { kind: 'bridge', suite: 'tiers', mode: 'full', auth: true };

/**
 * The scenarios, in table order. Every client is logged in (its own session), so `auth_only` and `full` do
 * their real work (session lookup, passport deserialisation, the guard) and `none` shows it skips all of it.
 * A new scenario (another store, another preset) is one more entry here.
 */
export const TIER_SCENARIOS: TierScenario[] = [
  {
    id: 'none',
    server: TIERS_APP,
    event: event(`${TIER_STATES.none}.bump`),
    throughputTarget: { text: '≥ 70% of bare echo', ratioAtLeast: 0.7 },
    serverCpuTarget: { text: '≤ 1.05× bare echo', ratioAtMost: 1.05 },
  },
  { id: 'auth_only', server: TIERS_APP, event: event(`${TIER_STATES.auth_only}.bump`) },
  {
    // Turned on in server/fast-auth.ts; until then the server answers "unavailable" and the rows say so.
    id: 'auth_only+fast_auth',
    server: { ...TIERS_APP, fastAuth: true },
    event: event(`${TIER_STATES.auth_only}.bump`),
    throughputTarget: { text: '≥ 50% of bare echo', ratioAtLeast: 0.5 },
    serverCpuTarget: { text: '≤ 1.15× bare echo', ratioAtMost: 1.15 },
  },
  { id: 'full', server: TIERS_APP, event: event(`${TIER_STATES.full}.bump`), throughputTarget: { text: '≥ 30% of bare echo', ratioAtLeast: 0.3 } },
  // Peers a user might pick instead (bench/src/peers/, bench/peers/), measured like the tiers, same clients, same login.
  { id: 'nest_gateway', server: { kind: 'peer', peer: 'nest-gateway' }, event: event(`${PEER_STATE}.bump`) },
  {
    id: 'reflex_django',
    server: { kind: 'peer', peer: 'reflex-django-core' },
    event: event(`${PEER_STATE}.bump`),
    note: 'peer: python-socketio on uvicorn, Django SessionMiddleware + AuthenticationMiddleware and the user lookup on every event',
  },
  {
    // The same Python server with Django left out of the events: how much of the peer's cost is its transport.
    id: 'python_socketio',
    server: { kind: 'peer', peer: 'python-socketio' },
    event: event(`${PEER_STATE}.bump`),
    note: 'peer: the reflex_django server with Django left out of the events (python-socketio on uvicorn alone)',
  },
];

/** A figure of ours against the same figure of a peer, from the same run. */
interface PeerComparison {
  ours: string;
  peer: string;
  figure: 'throughput' | 'server_cpu';
  target?: Target;
}

/** The peer targets, and the like-for-like comparisons reported beside them. */
export const PEER_COMPARISONS: PeerComparison[] = [
  { ours: 'full', peer: 'reflex_django', figure: 'throughput', target: { text: '≥ 5× the reflex-django core', ratioAtLeast: 5 } },
  { ours: 'full', peer: 'reflex_django', figure: 'server_cpu', target: { text: '≤ 0.2× the reflex-django core', ratioAtMost: 0.2 } },
  { ours: 'auth_only+fast_auth', peer: 'nest_gateway', figure: 'server_cpu', target: { text: '< 1× the hand-written Nest gateway', ratioBelow: 1 } },
  // The same work as the gateway (the session loaded from the store on every event), for reference.
  { ours: 'auth_only', peer: 'nest_gateway', figure: 'server_cpu' },
  { ours: 'auth_only+fast_auth', peer: 'nest_gateway', figure: 'throughput' },
];

/**
 * A tier's one-client server CPU row; with a target, bounded by the guarded floor run in a Nest app's process (a
 * module's event never runs in a smaller one, and does at least that floor's work).
 */
function serverCpu(name: string, cpu: number, echoCpu: number, scenario: TierScenario, guardedInNest: BenchResult): BenchResult {
  const row = compared(`${name}/server_cpu`, cpu, echoCpu, 'us/event', scenario.serverCpuTarget);
  return scenario.serverCpuTarget ? boundedBy(row, scenario.serverCpuTarget, guardedInNest) : row;
}

async function run(context: BenchContext): Promise<BenchResult[]> {
  const { clients } = context.options;
  const servers = new Map<string, ServerProcess>();
  const missing = new Map<string, string>();
  try {
    const echo = await ServerProcess.start('echo', { kind: 'echo' });
    if ('unavailable' in echo) throw new Error(echo.unavailable);
    servers.set('echo', echo);
    const chain = await ServerProcess.start('chain', { kind: 'echo', chain: true });
    if ('unavailable' in chain) throw new Error(chain.unavailable);
    servers.set('chain', chain);
    const floor = await ServerProcess.start('state_floor', { kind: 'echo', stateFloor: 'plain' });
    if ('unavailable' in floor) throw new Error(floor.unavailable);
    servers.set('state_floor', floor);
    const guarded = await ServerProcess.start('guarded_floor', { kind: 'echo', stateFloor: 'guarded' });
    if ('unavailable' in guarded) throw new Error(guarded.unavailable);
    servers.set('guarded_floor', guarded);
    // The echo and the guarded floor again, each in a process that also holds the idle tiers app: a Nest app's process.
    // And the chain baseline in such a process: the app's own middleware, alone, where `full` runs it.
    const inNest = [
      ['echo_in_nest', { kind: 'echo', besideApp: 'tiers' }],
      ['guarded_in_nest', { kind: 'echo', stateFloor: 'guarded', besideApp: 'tiers' }],
      ['chain_in_nest', { kind: 'echo', chain: true, besideApp: 'tiers' }],
    ] as const;
    for (const [id, config] of inNest) {
      const server = await ServerProcess.start(id, config);
      if ('unavailable' in server) throw new Error(server.unavailable);
      servers.set(id, server);
    }
    for (const scenario of TIER_SCENARIOS) {
      const server = await ServerProcess.start(scenario.id, scenario.server);
      if ('unavailable' in server) {
        missing.set(scenario.id, server.unavailable);
        context.log(`  ${scenario.id}: ${server.unavailable}`);
      } else {
        servers.set(scenario.id, server);
      }
    }

    const plan: PlannedRun[] = [];
    const add = (id: string, url: string, load: Omit<LoadConfig, 'url' | 'clients' | 'hydrate'>) => {
      const server = servers.get(id)!;
      // The one-client windows carry the server CPU targets: more rounds than the throughput ones (see --cpu-rounds).
      plan.push({ key: `${id} latency`, server, load: { ...load, url, clients: 1, hydrate: true }, rounds: context.options.cpuRounds });
      plan.push({ key: `${id} throughput`, server, load: { ...load, url, clients, hydrate: true } });
    };
    add('echo', echo.url, { workload: [event(`${ECHO_STATE}.bump`)] });
    // Only its one-client server CPU is used; the throughput run keeps it interleaved like the others.
    add('chain', chain.url, { login: BENCH_LOGIN, workload: [event(`${ECHO_STATE}.bump`)] });
    // The floor of `none`: only its one-client server CPU is used.
    plan.push({ key: 'state_floor latency', server: floor, load: { url: floor.url, clients: 1, hydrate: true, workload: [event(`${ECHO_STATE}.bump`)] }, rounds: context.options.cpuRounds });
    for (const id of ['guarded_floor', 'echo_in_nest', 'guarded_in_nest', 'chain_in_nest']) {
      const server = servers.get(id)!;
      const login = id === 'chain_in_nest' ? { login: BENCH_LOGIN } : {};
      plan.push({ key: `${id} latency`, server, load: { url: server.url, clients: 1, hydrate: true, ...login, workload: [event(`${ECHO_STATE}.bump`)] }, rounds: context.options.cpuRounds });
    }
    for (const scenario of TIER_SCENARIOS) {
      const server = servers.get(scenario.id);
      if (server) add(scenario.id, server.url, { login: BENCH_LOGIN, workload: [scenario.event] });
    }
    const measured = await measurePlan(context, plan);

    const base = { latency: measured.get('echo latency')!, throughput: measured.get('echo throughput')! };
    const results: BenchResult[] = [
      reported('tiers/echo/latency_p50', base.latency.latency.p50, 'ms', undefined, 'baseline: bare Socket.IO echo, one client'),
      reported('tiers/echo/latency_p99', base.latency.latency.p99, 'ms'),
      reported('tiers/echo/throughput', base.throughput.throughput, 'events/s', undefined, `baseline: bare Socket.IO echo, ${clients} clients`),
      reported('tiers/echo/server_cpu', base.latency.serverCpuPerEventUs, 'us/event', undefined, 'server CPU time per event, one client (each event handled alone)'),
      reported('tiers/echo/server_cpu_loaded', base.throughput.serverCpuPerEventUs, 'us/event', undefined,
        `server CPU time per event, ${clients} clients (the server rarely sleeps between events, so caches stay warm)`),
      reported('tiers/echo/server_wakeups', base.latency.serverWakeupsPerEvent, 'per event', undefined,
        "times the server's main thread slept and was woken up per event, one client: each wake-up is kernel and event-loop time inside server CPU"),
      reported('tiers/echo/server_gc_pause', base.latency.serverGcPausePerEventUs, 'us/event', undefined,
        "garbage-collection pauses of the server's main thread per event, one client (Node's gc performance entries)"),
    ];
    const chainCpu = measured.get('chain latency')!;
    results.push(
      compared('tiers/chain/server_cpu', chainCpu.serverCpuPerEventUs, base.latency.serverCpuPerEventUs, 'us/event', undefined,
        `baseline of full: bare Socket.IO running the express-session + passport chain per event (session middleware ran on ${(chainCpu.sessionRunsPerEvent * 100).toFixed(0)}% of events)`),
      compared('tiers/chain/server_wakeups', chainCpu.serverWakeupsPerEvent, base.latency.serverWakeupsPerEvent, 'per event'),
      compared('tiers/chain/server_gc_pause', chainCpu.serverGcPausePerEventUs, base.latency.serverGcPausePerEventUs, 'us/event'),
    );
    const floorCpu = measured.get('state_floor latency')!.serverCpuPerEventUs;
    const guardedCpu = measured.get('guarded_floor latency')!.serverCpuPerEventUs;
    const echoInNestCpu = measured.get('echo_in_nest latency')!.serverCpuPerEventUs;
    const guardedInNestCpu = measured.get('guarded_in_nest latency')!.serverCpuPerEventUs;
    const chainInNestCpu = measured.get('chain_in_nest latency')!.serverCpuPerEventUs;
    // The floor of none's and fast auth's server CPU targets: both do at least what it does, in the same kind of process.
    const guardedInNest = compared('tiers/guarded_in_nest/server_cpu', guardedInNestCpu, base.latency.serverCpuPerEventUs, 'us/event', undefined,
      "the guarded floor in such a process: the floor of none (and of fast auth, which does more) for a server that lives in a Nest app, one client");
    results.push(
      compared('tiers/state_floor/server_cpu', floorCpu, base.latency.serverCpuPerEventUs, 'us/event', undefined,
        "floor of none: a hand-written state server on bare Socket.IO (validate, route, run the handler, answer what changed; server/state-floor.ts), one client"),
      compared('tiers/guarded_floor/server_cpu', guardedCpu, base.latency.serverCpuPerEventUs, 'us/event', undefined,
        'the floor with the guarantees the module gives a none event (budget, token lock and order, per-event view, copy-on-write commit; server/guarded-state-floor.ts), one client'),
      compared('tiers/echo_in_nest/server_cpu', echoInNestCpu, base.latency.serverCpuPerEventUs, 'us/event', undefined,
        "the bare echo in a process that also holds the idle tiers app (a Nest app with the module, on its own port): what a Nest app's process adds to every event, one client"),
      guardedInNest,
      compared('tiers/chain_in_nest/server_cpu', chainInNestCpu, chainCpu.serverCpuPerEventUs, 'us/event', undefined,
        "the chain baseline in such a process (against the chain's own): the app's middleware where full runs it, one client"),
    );
    for (const scenario of TIER_SCENARIOS) {
      const name = `tiers/${scenario.id}`;
      const why = missing.get(scenario.id);
      if (why) {
        results.push(
          unavailable(`${name}/latency_p50`, 'ms', undefined, why),
          unavailable(`${name}/latency_p99`, 'ms', undefined, why),
          unavailable(`${name}/throughput`, 'events/s', scenario.throughputTarget, why),
          unavailable(`${name}/server_cpu`, 'us/event', undefined, why),
        );
        continue;
      }
      const latency = measured.get(`${scenario.id} latency`)!;
      const throughput = measured.get(`${scenario.id} throughput`)!;
      results.push(
        compared(`${name}/latency_p50`, latency.latency.p50, base.latency.latency.p50, 'ms'),
        compared(`${name}/latency_p99`, latency.latency.p99, base.latency.latency.p99, 'ms'),
        compared(`${name}/throughput`, throughput.throughput, base.throughput.throughput, 'events/s', scenario.throughputTarget,
          scenario.note ?? `session middleware ran on ${(throughput.sessionRunsPerEvent * 100).toFixed(0)}% of events`),
        serverCpu(name, latency.serverCpuPerEventUs, base.latency.serverCpuPerEventUs, scenario, guardedInNest),
        compared(`${name}/server_cpu_loaded`, throughput.serverCpuPerEventUs, base.throughput.serverCpuPerEventUs, 'us/event'),
        compared(`${name}/server_wakeups`, latency.serverWakeupsPerEvent, base.latency.serverWakeupsPerEvent, 'per event'),
      );
      // A peer's figures come from its own process; its garbage collector is not Node's.
      if (scenario.server.kind === 'bridge') {
        results.push(compared(`${name}/server_gc_pause`, latency.serverGcPausePerEventUs, base.latency.serverGcPausePerEventUs, 'us/event'));
      }
      if (scenario.id === 'none') {
        results.push(
          compared(`${name}/server_cpu_vs_state_floor`, latency.serverCpuPerEventUs, floorCpu, 'us/event', undefined, 'what the module adds beyond the floor'),
          compared(`${name}/server_cpu_vs_guarded_floor`, latency.serverCpuPerEventUs, guardedCpu, 'us/event', undefined, 'what the module adds beyond the floor with its guarantees'),
          compared(`${name}/server_cpu_vs_guarded_in_nest`, latency.serverCpuPerEventUs, guardedInNestCpu, 'us/event', undefined,
            "what the module adds beyond the floor with its guarantees run in a Nest app's process, as the module is"),
        );
      }
      if (scenario.id === 'full') {
        results.push(
          reported(`${name}/bridge_cost`, latency.serverCpuPerEventUs - chainCpu.serverCpuPerEventUs, 'us/event', BRIDGE_COST_TARGET,
            `full − chain server CPU per event (one client): ${latency.serverCpuPerEventUs.toFixed(1)} − ${chainCpu.serverCpuPerEventUs.toFixed(1)} us`),
          reported(`${name}/bridge_cost_in_nest`, latency.serverCpuPerEventUs - chainInNestCpu, 'us/event', undefined,
            `full − chain_in_nest server CPU per event (one client): what the bridge costs beyond the app's middleware run in the same kind of process`),
        );
      }
    }
    for (const comparison of PEER_COMPARISONS) {
      const name = `tiers/${comparison.ours}/vs_${comparison.peer}/${comparison.figure}`;
      const unit = comparison.figure === 'throughput' ? 'events/s' : 'us/event';
      const why = missing.get(comparison.peer) ?? missing.get(comparison.ours);
      if (why) {
        results.push(unavailable(name, unit, comparison.target, why));
        continue;
      }
      // Server CPU from the one-client runs (each event handled alone), throughput from the --clients runs.
      const pick = (id: string) =>
        comparison.figure === 'throughput' ? measured.get(`${id} throughput`)!.throughput : measured.get(`${id} latency`)!.serverCpuPerEventUs;
      results.push(compared(name, pick(comparison.ours), pick(comparison.peer), unit, comparison.target, `baseline: the ${comparison.peer} peer, same run`));
    }
    results.push(otherLoadFigure('tiers/machine_other_load', measured.values()));
    return results;
  } finally {
    await Promise.all([...servers.values()].map((server) => server.stop()));
  }
}

export const tiersBenchmark: Benchmark = {
  id: 'tiers',
  title: 'event round trip per bridge tier against a bare Socket.IO echo, and against peers (latency: 1 client; throughput: --clients)',
  run,
};

if (isMain(import.meta.url)) await runBenchmarks([tiersBenchmark], process.argv.slice(2));
