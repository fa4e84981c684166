import type { LatencySummary } from './types.js';

/** Nearest-rank percentile of an ascending array (`p` in 0..100). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** p50 / p90 / p99 / mean / max of `samples` (sorted in place). */
export function summarize(samples: Float64Array): LatencySummary {
  samples.sort();
  let total = 0;
  for (const sample of samples) total += sample;
  return {
    p50: percentile(samples, 50),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    mean: samples.length ? total / samples.length : Number.NaN,
    max: samples.length ? samples[samples.length - 1] : Number.NaN,
  };
}

/** The median of a few numbers (for repeated rounds). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
