import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * One figure of a run, as written to `bench/results/latest.json`. `baseline` is the figure it is compared with
 * (measured in the same run), `ratio` is `value / baseline`, `target` says in words what it should be, and
 * `met` whether it is. Figures without a target (baselines, latencies, diagnostics) say so in `target` and
 * have `met: true`; a figure that could not be measured has `value: null`, `met: false` and a `note`.
 */
export interface BenchResult {
  name: string;
  value: number | null;
  unit: string;
  baseline: number | null;
  ratio: number | null;
  target: string;
  met: boolean;
  /** Why a figure is missing, or what to keep in mind reading it. */
  note?: string;
  /**
   * Present only on a missed target whose floor, measured in the same run, misses the same target too (see
   * {@link boundedBy}): the floor's name and ratio. Such a figure cannot meet its target in that run whatever the
   * module does.
   */
  floorBound?: string;
}

/** A target on the ratio to the baseline, or on the value itself. */
export interface Target {
  text: string;
  ratioAtLeast?: number;
  ratioAtMost?: number;
  /** Strictly below (a peer's cost, say: "costs less than it"). */
  ratioBelow?: number;
  valueAtMost?: number;
}

export const NO_TARGET = 'reported only (no target)';

const DECIMALS: Record<string, number> = { ms: 3, 'events/s': 0, 'us/event': 1, bytes: 0, KiB: 2, MiB: 1, 'MiB/s': 1, '%': 1, keys: 0, 'commands/event': 2, 'requests/event': 2 };

function round(value: number, unit: string): number {
  const factor = 10 ** (DECIMALS[unit] ?? 3);
  return Math.round(value * factor) / factor;
}

function check(target: Target | undefined, value: number, ratio: number | null): boolean {
  if (!target) return true;
  if (target.ratioAtLeast !== undefined && !(ratio !== null && ratio >= target.ratioAtLeast)) return false;
  if (target.ratioAtMost !== undefined && !(ratio !== null && ratio <= target.ratioAtMost)) return false;
  if (target.ratioBelow !== undefined && !(ratio !== null && ratio < target.ratioBelow)) return false;
  if (target.valueAtMost !== undefined && !(value <= target.valueAtMost)) return false;
  return true;
}

/** A figure shown for itself (a baseline, or a diagnostic), or checked against a value target. */
export function reported(name: string, value: number, unit: string, target?: Target, note?: string): BenchResult {
  return {
    name,
    value: round(value, unit),
    unit,
    baseline: null,
    ratio: null,
    target: target?.text ?? NO_TARGET,
    met: check(target, value, null),
    ...(note ? { note } : {}),
  };
}

/** A figure compared with its baseline from the same run. */
export function compared(name: string, value: number, baseline: number, unit: string, target?: Target, note?: string): BenchResult {
  const ratio = baseline === 0 ? null : value / baseline;
  return {
    name,
    value: round(value, unit),
    unit,
    baseline: round(baseline, unit),
    ratio: ratio === null ? null : Math.round(ratio * 1000) / 1000,
    target: target?.text ?? NO_TARGET,
    met: check(target, value, ratio),
    ...(note ? { note } : {}),
  };
}

/**
 * `result` with its floor: `floor` is a figure of the same run that does the same work with less (the same event
 * with nothing of the module, say), so `result` cannot do better than it. When both miss `target`, `result` is
 * marked {@link BenchResult.floorBound}; it stays missed (a floor explains a miss, it never turns it into a pass).
 */
export function boundedBy(result: BenchResult, target: Target, floor: BenchResult): BenchResult {
  if (result.met || floor.value === null || check(target, floor.value, floor.ratio)) return result;
  return { ...result, floorBound: `${floor.name} read ${floor.ratio === null ? formatNumber(floor.value, floor.unit) : `${floor.ratio.toFixed(3)}×`}` };
}

/** A figure that could not be measured in this run (a feature not there yet): never faked. */
export function unavailable(name: string, unit: string, target: Target | undefined, note: string): BenchResult {
  return { name, value: null, unit, baseline: null, ratio: null, target: target?.text ?? NO_TARGET, met: false, note };
}

function formatNumber(value: number | null, unit: string): string {
  if (value === null) return 'n/a';
  const decimals = DECIMALS[unit] ?? 3;
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** The results as an aligned text table (also used for docs/performance.md). */
export function formatTable(results: BenchResult[]): string {
  const rows = results.map((result) => [
    result.name,
    `${formatNumber(result.value, result.unit)} ${result.unit}`,
    result.baseline === null ? '' : `${formatNumber(result.baseline, result.unit)} ${result.unit}`,
    result.ratio === null ? '' : `${result.ratio.toFixed(3)}×`,
    result.target,
    result.target === NO_TARGET && result.value !== null ? '' : result.met ? 'yes' : 'NO',
  ]);
  const header = ['figure', 'value', 'baseline', 'ratio', 'target', 'met'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === 1 || column === 2 || column === 3 ? cell.padStart(widths[column]) : cell.padEnd(widths[column]))).join('  ').trimEnd();
  const notes = results
    .filter((result) => result.note || result.floorBound)
    .map((result) => `  note ${result.name}: ${[result.note, result.floorBound && `floor-bound: its floor in this run, ${result.floorBound}, misses the target too`].filter(Boolean).join('; ')}`);
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line), ...(notes.length ? ['', ...notes] : [])].join('\n');
}

/** Where `npm run bench` writes the latest run's figures. */
export const LATEST_JSON = fileURLToPath(new URL('../../results/latest.json', import.meta.url));

/**
 * Writes `results` to `path`. The figures of the benchmarks that ran (`ran`: their ids, the prefix of their
 * figure names) replace that benchmark's earlier figures; figures of benchmarks that did not run this time are
 * kept, so running one benchmark alone does not wipe the others' latest numbers.
 */
export async function writeResults(results: BenchResult[], ran: string[], path = LATEST_JSON): Promise<string> {
  let kept: BenchResult[] = [];
  try {
    const previous = JSON.parse(await readFile(path, 'utf8')) as BenchResult[];
    if (Array.isArray(previous)) kept = previous.filter((result) => !ran.some((id) => result.name.startsWith(`${id}/`)));
  } catch {
    // No earlier results (or unreadable ones): write this run's alone.
  }
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify([...kept, ...results], null, 2)}\n`);
  return path;
}
