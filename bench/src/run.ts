// `npm run bench -- [benchmark ...] [flags]`: runs the benchmarks (all by default), prints one table and
// writes bench/results/latest.json and its chart, latest.svg. `--help` lists the flags. Each benchmark also runs alone, either as
// `npm run bench -- tiers` or as `node bench/dist/benchmarks/tiers.bench.js`.
import { runBenchmarks } from './harness/benchmark.js';
import { BENCHMARKS } from './benchmarks/index.js';

await runBenchmarks(BENCHMARKS, process.argv.slice(2));
