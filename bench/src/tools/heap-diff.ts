// Where the heap of N connections goes: compares two V8 heap snapshots of one server (before and after opening
// the connections, as `npm run bench -- idle --heap-snapshot` writes them) and lists the objects the second
// holds that the first did not, grouped by constructor (or V8 type), and by the nearest owner that names what
// they belong to. Bytes are divided by N, so each row reads as "bytes per connection".
//
//   node bench/dist/tools/heap-diff.js <before.heapsnapshot> <after.heapsnapshot> <N> [rows] [rows.tsv]
//
// With a fifth argument, every new object is also written to that file as `bytes<TAB>class<TAB>retainer chain`
// (eight retainers deep), to sum by any pattern of the chain.
import { readFileSync, writeFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] }; node_count: number };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface Graph {
  ids: Set<number>;
  /** Per node index (node offset / field count): type name, name, id, self size. */
  type: string[];
  name: string[];
  id: Float64Array;
  size: Float64Array;
  /** Retainers of each node: node indexes and edge labels. */
  retainers: Array<Array<{ from: number; edge: string }>>;
}

function load(path: string): Graph {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const { meta } = raw.snapshot;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const count = raw.nodes.length / nf;
  const typeAt = meta.node_fields.indexOf('type');
  const nameAt = meta.node_fields.indexOf('name');
  const idAt = meta.node_fields.indexOf('id');
  const sizeAt = meta.node_fields.indexOf('self_size');
  const edgeCountAt = meta.node_fields.indexOf('edge_count');
  const graph: Graph = {
    ids: new Set(),
    type: new Array<string>(count),
    name: new Array<string>(count),
    id: new Float64Array(count),
    size: new Float64Array(count),
    retainers: Array.from({ length: count }, () => []),
  };
  let edge = 0;
  for (let i = 0; i < count; i++) {
    const at = i * nf;
    graph.type[i] = nodeTypes[raw.nodes[at + typeAt]!]!;
    graph.name[i] = raw.strings[raw.nodes[at + nameAt]!]!;
    graph.id[i] = raw.nodes[at + idAt]!;
    graph.size[i] = raw.nodes[at + sizeAt]!;
    graph.ids.add(raw.nodes[at + idAt]!);
    const edges = raw.nodes[at + edgeCountAt]!;
    for (let e = 0; e < edges; e++, edge += ef) {
      const kind = edgeTypes[raw.edges[edge]!]!;
      const nameOrIndex = raw.edges[edge + 1]!;
      const to = raw.edges[edge + 2]! / nf;
      if (kind === 'weak') continue;
      const label = kind === 'element' || kind === 'hidden' ? `[${nameOrIndex}]` : raw.strings[nameOrIndex]!;
      graph.retainers[to]!.push({ from: i, edge: `${kind}:${label}` });
    }
  }
  return graph;
}

/** A readable class for a node: objects by constructor name, strings and code by V8 type. */
function classOf(g: Graph, i: number): string {
  const type = g.type[i]!;
  if (type === 'object' || type === 'closure' || type === 'native') return `${type === 'object' ? '' : type + ' '}${g.name[i]}`;
  if (type === 'hidden' || type === 'array' || type === 'code' || type === 'object shape') return `(${type}) ${g.name[i]!.slice(0, 60)}`;
  return `(${type})`;
}

/** Edge kinds that say how an object is held, best first (internal edges name nothing a reader knows). */
const EDGE_RANK: Record<string, number> = { property: 0, element: 1, context: 2, shortcut: 3, internal: 4, hidden: 5 };

/**
 * How a new object is held, as a chain of at most `depth` retainers: `class .edge <- class .edge ...`, following
 * the most telling retainer at each step (a property before an internal link), through new objects only.
 */
function ownerOf(g: Graph, i: number, fresh: (j: number) => boolean, depth = 4): string {
  const chain: string[] = [];
  const seen = new Set([i]);
  let node = i;
  for (let step = 0; step < depth; step++) {
    const retainers = g.retainers[node]!.filter(({ from }) => !seen.has(from) && g.type[from] !== 'synthetic');
    if (retainers.length === 0) break;
    retainers.sort((a, b) => (EDGE_RANK[a.edge.split(':')[0]!] ?? 9) - (EDGE_RANK[b.edge.split(':')[0]!] ?? 9));
    const { from, edge } = retainers[0]!;
    seen.add(from);
    const label = edge.replace(/^(property|context|shortcut):/, '.').replace(/^(element|internal|hidden):/, '');
    chain.push(`${label} ${classOf(g, from)}`);
    if (!fresh(from)) break;
    node = from;
  }
  return chain.join(' <- ') || '?';
}

const [beforePath, afterPath, nText, rowsText, tsvPath] = process.argv.slice(2);
if (!beforePath || !afterPath || !nText) {
  process.stderr.write('usage: heap-diff <before.heapsnapshot> <after.heapsnapshot> <connections> [rows]\n');
  process.exit(2);
}
const n = Number(nText);
const rows = Number(rowsText ?? 60);
const before = load(beforePath);
const after = load(afterPath);
const fresh = (i: number) => !before.ids.has(after.id[i]!);
const byClass = new Map<string, { count: number; bytes: number }>();
const byOwner = new Map<string, { count: number; bytes: number }>();
let total = 0;
for (let i = 0; i < after.type.length; i++) {
  if (!fresh(i)) continue;
  const type = after.type[i]!;
  if (type === 'synthetic') continue;
  const bytes = after.size[i]!;
  total += bytes;
  const cls = classOf(after, i);
  const entry = byClass.get(cls) ?? { count: 0, bytes: 0 };
  entry.count++;
  entry.bytes += bytes;
  byClass.set(cls, entry);
}
// Owners for the classes that matter (sampled: the first 3 per class would be too few to be sure, so all).
for (let i = 0; i < after.type.length; i++) {
  if (!fresh(i) || after.type[i] === 'synthetic') continue;
  const key = `${classOf(after, i)}  <-  ${ownerOf(after, i, fresh)}`;
  const entry = byOwner.get(key) ?? { count: 0, bytes: 0 };
  entry.count++;
  entry.bytes += after.size[i]!;
  byOwner.set(key, entry);
}
if (tsvPath) {
  const lines: string[] = [];
  for (let i = 0; i < after.type.length; i++) {
    if (!fresh(i) || after.type[i] === 'synthetic') continue;
    lines.push(`${after.size[i]}\t${classOf(after, i)}\t${ownerOf(after, i, fresh, 8)}`);
  }
  writeFileSync(tsvPath, lines.join('\n') + '\n');
}
const print = (title: string, table: Map<string, { count: number; bytes: number }>) => {
  process.stdout.write(`\n${title}\n`);
  const sorted = [...table].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, rows);
  for (const [key, { count, bytes }] of sorted) {
    process.stdout.write(`${(bytes / n).toFixed(0).padStart(7)} B  ${(count / n).toFixed(2).padStart(6)}/conn  ${key}\n`);
  }
};
process.stdout.write(`new objects: ${(total / n).toFixed(0)} B per connection (${n} connections)\n`);
print('by class', byClass);
print('by class and owner', byOwner);
