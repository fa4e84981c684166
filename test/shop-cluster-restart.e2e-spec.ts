import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './support/eventually.js';
import { freePort } from './support/ports.js';
import { buildShop, SHOP_MAIN } from './support/shop-workers.js';

/** Failed restarts watched: enough for the doubling to pass any worker's own start time. */
const FAILED_RESTARTS = 7;

describe('WORKERS=N whose workers keep dying after one listened (the cluster mode of `npm run shop`)', () => {
  const directory = mkdtempSync(join(tmpdir(), 'shop-cluster-restart-'));
  let primary: ChildProcess | undefined;
  beforeAll(() => buildShop(), 180_000);
  afterAll(() => {
    // The primary and its workers share a process group of their own (detached): end them all.
    if (primary?.pid && primary.exitCode === null && primary.signalCode === null) process.kill(-primary.pid, 'SIGKILL');
    rmSync(directory, { recursive: true, force: true });
  });

  it('forks replacements after a doubling delay instead of at once, without end', async () => {
    const data = join(directory, 'data');
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'development', WORKERS: '2', SQLITE_PATH: join(data, 'shop.sqlite'), UPLOAD_DIR: join(directory, 'uploads'), PORT: String(await freePort()) };
    delete env.REDIS_URL;
    delete env.DATABASE_URL;
    mkdirSync(data, { recursive: true });
    const child = spawn(process.execPath, [SHOP_MAIN], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    primary = child;
    let output = '';
    /** When each "exited" line of the primary arrived (a lower bound on the gaps is all the test reads from it). */
    const exits: number[] = [];
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      for (let i = 0; i < text.split(/Worker \d+ exited/).length - 1; i++) exits.push(Date.now());
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    await eventually('2 workers listening', () => output, (text) => text.split('Shop listening on').length - 1 >= 2, 120_000);

    // The database goes away (its directory replaced by a file: a new worker can neither open nor create it), then a
    // worker dies: each replacement fails its start, as workers do while their database is down.
    rmSync(data, { recursive: true, force: true });
    writeFileSync(data, '');
    const workers = execFileSync('pgrep', ['-P', String(child.pid)]).toString().trim().split('\n').map(Number);
    process.kill(workers[0]!, 'SIGKILL');
    await eventually(`${FAILED_RESTARTS + 1} exits`, () => exits.length, (count) => count >= FAILED_RESTARTS + 1, 300_000);

    // Before: "Worker … exited (1); starting another" with no delay, a new worker every start time, without end.
    const delays = [...output.matchAll(/starting another in (\d+) ms/g)].map((match) => Number(match[1]));
    expect(delays.slice(0, FAILED_RESTARTS)).toEqual([100, 200, 400, 800, 1600, 3200, 6400]);
    // The replacements were forked no sooner than announced (timers never fire early, and each worker's start comes on
    // top: a lower bound holds under load). Over the whole run, so that a late read of one exit line cannot count.
    const announced = delays.slice(0, FAILED_RESTARTS).reduce((sum, delay) => sum + delay, 0);
    expect(exits[FAILED_RESTARTS]! - exits[0]!).toBeGreaterThanOrEqual(announced);
    expect(output).toMatch(/ENOTDIR|EEXIST|unable to open database file|SQLITE_CANTOPEN/);
    expect(child.exitCode).toBeNull();
  }, 360_000);
});
