// The results of a run as an SVG chart (bench/results/latest.svg beside latest.json): for each figure that has
// a target, grouped by benchmark, a bar for the figure and one for its baseline (or peer) from the same run, the
// ratio, and the target marked where it is a ratio to the baseline. Hand-built SVG text: no chart library, and
// it renders in any browser (docs/performance.md shows one).
import { readFile, writeFile } from 'node:fs/promises';
import { NO_TARGET, type BenchResult } from './results.js';

const WIDTH = 960;
const LABEL_WIDTH = 330;
const BAR_LEFT = LABEL_WIDTH + 10;
const BAR_WIDTH = 420;
const RATIO_LEFT = BAR_LEFT + BAR_WIDTH + 16;
const BAR_HEIGHT = 13;
const ROW_HEIGHT = 2 * BAR_HEIGHT + 16;
const GROUP_HEADER = 26;
const TOP = 74;
const COLORS = { met: '#2e7d32', missed: '#c62828', reported: '#1565c0', baseline: '#9e9e9e', target: '#ef6c00', text: '#212121', muted: '#616161' };

/** A ratio target parsed from the figure's target text ("p99 ≤ 1.5× …", "≥ 0.7× …"), to mark on the chart. */
interface RatioTarget {
  atMost: boolean;
  ratio: number;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function ratioTarget(target: string): RatioTarget | undefined {
  const match = /(≤|<=|≥|>=)\s*([0-9]+(?:\.[0-9]+)?)\s*×/.exec(target);
  return match ? { atMost: match[1] === '≤' || match[1] === '<=', ratio: Number(match[2]) } : undefined;
}

function formatValue(value: number, unit: string): string {
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits })} ${unit}`;
}

/** Figures the chart shows: those with a target (the primary figures), in the order of the run. */
export function chartedFigures(results: BenchResult[]): BenchResult[] {
  return results.filter((result) => result.target !== NO_TARGET);
}

function benchmarkOf(result: BenchResult): string {
  return result.name.split('/')[0];
}

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${x}" y="${y}" ${attributes}>${escapeXml(content)}</text>`;
}

/** One figure: its name, the two bars scaled to the larger of value, baseline and target mark, the ratio. */
function figureRow(result: BenchResult, y: number): string {
  const parts: string[] = [];
  const name = result.name.slice(benchmarkOf(result).length + 1);
  parts.push(text(LABEL_WIDTH, y + BAR_HEIGHT, name, `text-anchor="end" font-size="12" fill="${COLORS.text}"`));
  parts.push(`<title>${escapeXml(`${result.name}: ${result.target}${result.note ? ` (${result.note})` : ''}`)}</title>`);
  if (result.value === null) {
    parts.push(text(BAR_LEFT, y + BAR_HEIGHT, `not measured: ${result.note ?? 'no value'}`.slice(0, 90), `font-size="11" font-style="italic" fill="${COLORS.missed}"`));
    return `<g>${parts.join('')}</g>`;
  }
  const target = result.baseline !== null ? ratioTarget(result.target) : undefined;
  const targetValue = target && result.baseline !== null ? target.ratio * result.baseline : undefined;
  const scale = Math.max(result.value, result.baseline ?? 0, targetValue ?? 0) || 1;
  const length = (value: number) => Math.max(1, (Math.max(0, value) / scale) * BAR_WIDTH);
  const color = result.met ? COLORS.met : COLORS.missed;
  parts.push(`<rect x="${BAR_LEFT}" y="${y}" width="${length(result.value).toFixed(1)}" height="${BAR_HEIGHT}" fill="${color}"/>`);
  parts.push(text(BAR_LEFT + 4, y + BAR_HEIGHT - 3, formatValue(result.value, result.unit), `font-size="10" fill="#fff"`));
  if (result.baseline !== null) {
    const baseY = y + BAR_HEIGHT + 2;
    parts.push(`<rect x="${BAR_LEFT}" y="${baseY}" width="${length(result.baseline).toFixed(1)}" height="${BAR_HEIGHT}" fill="${COLORS.baseline}"/>`);
    parts.push(text(BAR_LEFT + 4, baseY + BAR_HEIGHT - 3, `baseline ${formatValue(result.baseline, result.unit)}`, `font-size="10" fill="#fff"`));
  }
  if (targetValue !== undefined) {
    const x = (BAR_LEFT + length(targetValue)).toFixed(1);
    parts.push(`<line x1="${x}" y1="${y - 3}" x2="${x}" y2="${y + 2 * BAR_HEIGHT + 5}" stroke="${COLORS.target}" stroke-width="2" stroke-dasharray="4 2"/>`);
  }
  const ratio = result.ratio === null ? '' : `${result.ratio.toFixed(2)}×`;
  const goal = target ? ` (target ${target.atMost ? '≤' : '≥'} ${target.ratio}×)` : '';
  parts.push(text(RATIO_LEFT, y + BAR_HEIGHT, `${ratio}${goal}`, `font-size="12" fill="${COLORS.text}"`));
  parts.push(text(RATIO_LEFT, y + 2 * BAR_HEIGHT + 1, result.met ? 'met' : 'NOT met', `font-size="11" font-weight="bold" fill="${color}"`));
  return `<g>${parts.join('')}</g>`;
}

/**
 * The chart of `results` as an SVG document: one group per benchmark, one row per figure with a target. `title`
 * heads it (say which run it shows).
 */
export function renderResultsChart(results: BenchResult[], title: string): string {
  const figures = chartedFigures(results);
  const rows: string[] = [];
  let y = TOP;
  let group: string | undefined;
  for (const figure of figures) {
    if (benchmarkOf(figure) !== group) {
      group = benchmarkOf(figure);
      y += 8;
      rows.push(text(12, y + 12, group, `font-size="14" font-weight="bold" fill="${COLORS.text}"`));
      rows.push(`<line x1="12" y1="${y + 17}" x2="${WIDTH - 12}" y2="${y + 17}" stroke="#e0e0e0"/>`);
      y += GROUP_HEADER;
    }
    rows.push(figureRow(figure, y));
    y += ROW_HEIGHT;
  }
  if (figures.length === 0) {
    rows.push(text(12, y + 14, 'No figure with a target in these results.', `font-size="13" fill="${COLORS.muted}"`));
    y += 30;
  }
  const met = figures.filter((figure) => figure.met).length;
  const legendY = 50;
  const legend = [
    `<rect x="12" y="${legendY - 10}" width="12" height="12" fill="${COLORS.met}"/>`,
    text(28, legendY, 'figure, target met', `font-size="11" fill="${COLORS.text}"`),
    `<rect x="150" y="${legendY - 10}" width="12" height="12" fill="${COLORS.missed}"/>`,
    text(166, legendY, 'figure, target missed', `font-size="11" fill="${COLORS.text}"`),
    `<rect x="300" y="${legendY - 10}" width="12" height="12" fill="${COLORS.baseline}"/>`,
    text(316, legendY, 'baseline or peer, same run', `font-size="11" fill="${COLORS.text}"`),
    `<line x1="480" y1="${legendY - 11}" x2="480" y2="${legendY + 2}" stroke="${COLORS.target}" stroke-width="2" stroke-dasharray="4 2"/>`,
    text(488, legendY, 'target (ratio × baseline); bars of a row share one scale', `font-size="11" fill="${COLORS.text}"`),
  ];
  const height = y + 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(12, 24, `${title}: ${met} of ${figures.length} targets met`, `font-size="16" font-weight="bold" fill="${COLORS.text}"`),
    ...legend,
    ...rows,
    '</svg>',
    '',
  ].join('\n');
}

/** Reads the results at `jsonPath` (latest.json) and writes their chart beside it (latest.svg); returns its path. */
export async function writeResultsChart(jsonPath: string, title = 'ReflexBridge benchmarks'): Promise<string> {
  const results = JSON.parse(await readFile(jsonPath, 'utf8')) as BenchResult[];
  const svgPath = jsonPath.replace(/\.json$/, '.svg');
  await writeFile(svgPath, renderResultsChart(results, title));
  return svgPath;
}
