// Summarises a V8 sampling heap profile (as written by `npm run bench -- --allocations`):
//   node bench/dist/tools/heapprofile-summary.js <file.heapprofile> --events=N [--top=25] [--base=<other.heapprofile> --base-events=M]
// (`--events`: what the bytes are divided by: the events of the window, or the MiB an upload window received.)
// Prints the bytes allocated per event by package / library folder and by function (self: allocated in that
// function's own frame, inlined callees included when V8 reports them as the caller). With --base, each row also
// shows the other profile's bytes per event and the difference: where one server allocates more than another.
import { readFile } from 'node:fs/promises';
import { groupOf, location } from './profile-frames.js';

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

interface PerEvent {
  total: number;
  groups: Map<string, number>;
  functions: Map<string, number>;
}

const flag = (name: string) => process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);

async function perEvent(file: string, events: number): Promise<PerEvent> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as { head: SamplingNode };
  const figures: PerEvent = { total: 0, groups: new Map(), functions: new Map() };
  const add = (map: Map<string, number>, key: string, bytes: number) => map.set(key, (map.get(key) ?? 0) + bytes);
  const pending = [profile.head];
  for (let node = pending.pop(); node; node = pending.pop()) {
    pending.push(...node.children);
    if (node.selfSize === 0) continue;
    const bytes = node.selfSize / events;
    const frame = node.callFrame;
    figures.total += bytes;
    add(figures.groups, groupOf(frame.url, frame.functionName), bytes);
    add(figures.functions, `${frame.functionName || '(anonymous)'}  ${location(frame)}`, bytes);
  }
  return figures;
}

function positiveNumber(name: string, text: string | undefined): number {
  const value = Number(text);
  if (!(value > 0)) throw new Error(`--${name}: expected a number > 0, got "${text}"`);
  return value;
}

async function main(): Promise<void> {
  const file = process.argv.slice(2).find((arg) => !arg.startsWith('--'));
  if (!file || !flag('events')) {
    console.error('usage: node bench/dist/tools/heapprofile-summary.js <file.heapprofile> --events=N [--top=25] [--base=<file> --base-events=M]');
    process.exitCode = 2;
    return;
  }
  const top = Number(flag('top') ?? 25);
  const ours = await perEvent(file, positiveNumber('events', flag('events')));
  const baseFile = flag('base');
  const base = baseFile ? await perEvent(baseFile, positiveNumber('base-events', flag('base-events'))) : undefined;
  const bytes = (value: number) => `${Math.round(value).toLocaleString('en-US').padStart(7)} B`;
  const row = (key: string, value: number, other: Map<string, number> | undefined) =>
    other ? `  ${bytes(value)} ${bytes(other.get(key) ?? 0)} ${(value - (other.get(key) ?? 0) >= 0 ? '+' : '') + Math.round(value - (other.get(key) ?? 0))}  ${key}` : `  ${bytes(value)}  ${key}`;
  const ranked = (mine: Map<string, number>, other: Map<string, number> | undefined) => {
    const keys = new Set([...mine.keys(), ...(other?.keys() ?? [])]);
    const weight = (key: string) => (other ? Math.abs((mine.get(key) ?? 0) - (other.get(key) ?? 0)) : (mine.get(key) ?? 0));
    return [...keys].sort((a, b) => weight(b) - weight(a)).slice(0, top);
  };
  console.log(`${file}\n${bytes(ours.total)} allocated per event${base ? `; base ${baseFile}: ${bytes(base.total)} (${Math.round(ours.total - base.total)} B more)` : ''}\n`);
  console.log(base ? 'by package / library folder (this, base, difference; largest differences first)' : 'by package / library folder');
  for (const key of ranked(ours.groups, base?.groups)) console.log(row(key, ours.groups.get(key) ?? 0, base?.groups));
  console.log(base ? '\nby function (this, base, difference; largest differences first)' : '\nby function');
  for (const key of ranked(ours.functions, base?.functions)) console.log(row(key, ours.functions.get(key) ?? 0, base?.functions));
}

await main();
