import type { Benchmark } from '../harness/benchmark.js';
import { growthBenchmark } from './growth.bench.js';
import { idleBenchmark } from './idle.bench.js';
import { memoryBenchmark } from './memory.bench.js';
import { modesBenchmark } from './modes.bench.js';
import { tiersBenchmark } from './tiers.bench.js';
import { liveLatencyBenchmark } from './live-latency.bench.js';
import { fastAuthBenchmark } from './fast-auth.bench.js';
import { stateStoreBenchmark } from './state-store.bench.js';
import { floodBenchmark } from './flood.bench.js';
import { uploadBenchmark } from './upload.bench.js';
import { redisClusterBenchmark } from './redis-cluster.bench.js';

/** Every benchmark of the harness, in the order `npm run bench` runs them. Add new ones here. */
export const BENCHMARKS: Benchmark[] = [tiersBenchmark, modesBenchmark, memoryBenchmark, idleBenchmark, growthBenchmark, fastAuthBenchmark, liveLatencyBenchmark, stateStoreBenchmark, floodBenchmark, uploadBenchmark, redisClusterBenchmark];
