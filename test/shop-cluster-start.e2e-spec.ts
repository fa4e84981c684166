import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { eventually } from './support/eventually.js';
import { freePort } from './support/ports.js';
import { buildShop, SHOP_MAIN } from './support/shop-workers.js';

describe('WORKERS=N whose workers cannot start (the cluster mode of `npm run shop`)', () => {
  let primary: ChildProcess | undefined;
  beforeAll(() => buildShop(), 180_000);
  afterAll(() => {
    // The primary and its workers share a process group of their own (detached): end them all.
    if (primary?.pid && primary.exitCode === null && primary.signalCode === null) process.kill(-primary.pid, 'SIGKILL');
  });

  it('stops with an error naming the cause instead of forking failing workers for ever', async () => {
    // A database nobody listens on: every worker fails its start (connection refused).
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'development', WORKERS: '2', DATABASE_URL: `postgres://shop@127.0.0.1:${await freePort()}/shop`, PORT: String(await freePort()) };
    delete env.REDIS_URL;
    const child = spawn(process.execPath, [SHOP_MAIN], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    primary = child;
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Before: "Worker ... exited (1); starting another" without end, the primary up. Its restarts are a few seconds
    // each on a loaded machine: a deadline far past the few it takes now to give up.
    const restarts = () => output.split('starting another').length - 1;
    const outcome = await Promise.race([exited.then((code) => ({ code })), eventually('the primary to exit, or 30 restarts', restarts, (count) => count >= 30, 300_000).then(() => 'still forking')]);
    expect({ outcome, restarts: restarts() }).toEqual({ outcome: { code: 1 }, restarts: expect.any(Number) });
    expect(restarts()).toBeLessThan(30);
    expect(output).toMatch(/workers exited before any listened.*stopping/);
    expect(output).toMatch(/ECONNREFUSED/);
  }, 360_000);
});
