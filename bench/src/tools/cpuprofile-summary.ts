// Summarises a V8 .cpuprofile (as written by `npm run bench -- --profile`, or `node --cpu-prof`):
//   node bench/dist/tools/cpuprofile-summary.js <file.cpuprofile> [--top=25] [--match=reflex-bridge]
// Prints the self time per package / library file group, then the top functions by self time and, with
// --match, the functions whose file matches by inclusive ("total") time. Open the file in Chrome DevTools
// (Performance panel) or speedscope for the full picture.
import { readFile } from 'node:fs/promises';
import { groupOf, location } from './profile-frames.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const file = args.find((arg) => !arg.startsWith('--'));
  if (!file) {
    console.error('usage: node bench/dist/tools/cpuprofile-summary.js <file.cpuprofile> [--top=25] [--match=text]');
    process.exitCode = 2;
    return;
  }
  const top = Number(args.find((arg) => arg.startsWith('--top='))?.slice(6) ?? 25);
  const match = args.find((arg) => arg.startsWith('--match='))?.slice(8);
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;

  // Self time per node: each sample's time delta goes to the node sampled.
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + Math.max(0, deltas[i] ?? 0));
  const total = [...selfUs.values()].reduce((sum, value) => sum + value, 0);

  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(6)} ms`;
  console.log(`${file}\n${(total / 1000).toFixed(0)} ms sampled over ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms\n`);

  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const group = groupOf(frame.url, frame.functionName);
    groups.set(group, (groups.get(group) ?? 0) + us);
    const key = `${frame.functionName || '(anonymous)'}  ${location(frame)}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
  }
  console.log('self time by package / library folder');
  for (const [group, us] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)} ${ms(us)}  ${group}`);
  console.log('\ntop functions by self time');
  for (const [key, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)} ${ms(us)}  ${key}`);

  if (match) {
    // Inclusive time: a sample counts once for every distinct matching function on its stack.
    const inclusive = new Map<string, number>();
    for (const [id, us] of selfUs) {
      const seen = new Set<string>();
      for (let node: number | undefined = id; node !== undefined; node = parent.get(node)) {
        const frame = byId.get(node)!.callFrame;
        if (!frame.url.includes(match)) continue;
        const key = `${frame.functionName || '(anonymous)'}  ${location(frame)}`;
        if (seen.has(key)) continue;
        seen.add(key);
        inclusive.set(key, (inclusive.get(key) ?? 0) + us);
      }
    }
    console.log(`\ntotal (inclusive) time of functions in files matching "${match}"`);
    for (const [key, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)} ${ms(us)}  ${key}`);
  }
}

await main();
