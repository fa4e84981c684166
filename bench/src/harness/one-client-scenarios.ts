import type { LoadConfig, ServerConfig } from './types.js';
import { BENCH_LOGIN, ECHO_STATE, event, TIER_STATES } from './wire.js';

/** What a load generator sends, without where and how many clients (the tool sets those). */
export type ScenarioLoad = Omit<LoadConfig, 'url' | 'clients' | 'hydrate'>;

const TIERS_APP: ServerConfig = { kind: 'bridge', suite: 'tiers', mode: 'full', auth: true };

/**
 * The servers the measuring tools (`tools/instructions-per-event.ts`, `tools/alternated-windows.ts`) compare, by id:
 * each server, and the event its clients send, as `npm run bench -- tiers` runs them.
 */
export const ONE_CLIENT_SCENARIOS: Record<string, { server: ServerConfig; load: ScenarioLoad }> = {
  echo: { server: { kind: 'echo' }, load: { workload: [event(`${ECHO_STATE}.bump`)] } },
  floor: { server: { kind: 'echo', stateFloor: 'plain' }, load: { workload: [event(`${ECHO_STATE}.bump`)] } },
  guarded: { server: { kind: 'echo', stateFloor: 'guarded' }, load: { workload: [event(`${ECHO_STATE}.bump`)] } },
  // The echo and the guarded floor in a process that also holds an idle Nest app (the `tiers` app, or an empty one):
  // what the process adds, apart from the module's event path.
  'echo-in-nest': { server: { kind: 'echo', besideApp: 'tiers' }, load: { workload: [event(`${ECHO_STATE}.bump`)] } },
  'guarded-in-nest': { server: { kind: 'echo', stateFloor: 'guarded', besideApp: 'tiers' }, load: { workload: [event(`${ECHO_STATE}.bump`)] } },
  'echo-in-empty-nest': { server: { kind: 'echo', besideApp: 'nest' }, load: { workload: [event(`${ECHO_STATE}.bump`)] } },
  chain: { server: { kind: 'echo', chain: true }, load: { login: BENCH_LOGIN, workload: [event(`${ECHO_STATE}.bump`)] } },
  // The chain beside an idle `tiers` app: the app's own middleware, run alone, in a Nest app's process as `full` is.
  'chain-in-nest': { server: { kind: 'echo', chain: true, besideApp: 'tiers' }, load: { login: BENCH_LOGIN, workload: [event(`${ECHO_STATE}.bump`)] } },
  none: { server: TIERS_APP, load: { login: BENCH_LOGIN, workload: [event(`${TIER_STATES.none}.bump`)] } },
  auth_only: { server: TIERS_APP, load: { login: BENCH_LOGIN, workload: [event(`${TIER_STATES.auth_only}.bump`)] } },
  fast: { server: { ...TIERS_APP, fastAuth: true }, load: { login: BENCH_LOGIN, workload: [event(`${TIER_STATES.auth_only}.bump`)] } },
  full: { server: TIERS_APP, load: { login: BENCH_LOGIN, workload: [event(`${TIER_STATES.full}.bump`)] } },
};
