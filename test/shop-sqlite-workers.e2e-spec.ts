import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { DEMO_USERS } from '../apps/shop/src/auth/user.service.js';
import { eventually } from './support/eventually.js';
import { freePort } from './support/ports.js';
import { buildShop, SHOP_MAIN } from './support/shop-workers.js';

/** Fresh SQLite files, each started on by `WORKERS` cluster workers at once: the race is timing-dependent. */
const ROUNDS = 3;
const WORKERS = 3;
/** The products the shop seeds on an empty catalogue. */
const SEEDED_PRODUCTS = 8;

describe('WORKERS=N on a fresh SQLite file (the cluster mode of `npm run shop`)', () => {
  const directory = mkdtempSync(join(tmpdir(), 'shop-sqlite-workers-'));
  let primary: ChildProcess | undefined;
  beforeAll(() => buildShop(), 180_000);
  afterAll(() => {
    // The primary and its workers share a process group of their own (detached): end them all.
    if (primary?.pid && primary.exitCode === null) process.kill(-primary.pid, 'SIGKILL');
    rmSync(directory, { recursive: true, force: true });
  });

  it('every worker starts once, and the schema and seed rows exist once', async () => {
    const failures: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const database = join(directory, `shop-${round}.sqlite`);
      const env = { ...process.env, NODE_ENV: 'development', WORKERS: String(WORKERS), SQLITE_PATH: database, PORT: String(await freePort()), UPLOAD_DIR: join(directory, 'uploads') };
      const child = spawn(process.execPath, [SHOP_MAIN], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      primary = child;
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      try {
        // Every worker listening, or one of them dead (the primary forks another: a worker that failed its start).
        await eventually(
          `${WORKERS} workers listening (round ${round})`,
          () => output,
          (text) => text.split('Shop listening on').length - 1 >= WORKERS || text.includes('starting another'),
          120_000,
        );
        if (output.includes('starting another')) failures.push(`round ${round}: a worker died at start:\n${output.slice(-3000)}`);
      } finally {
        process.kill(-child.pid!, 'SIGKILL');
      }
      const check = await new DataSource({ type: 'better-sqlite3', database, readonly: true }).initialize();
      try {
        const count = async (table: string) => Number((await check.query(`SELECT count(*) AS n FROM ${table}`))[0].n);
        const products = await count('product');
        const users = await count('shop_user');
        if (products !== SEEDED_PRODUCTS) failures.push(`round ${round}: ${products} products seeded, not ${SEEDED_PRODUCTS}`);
        if (users !== DEMO_USERS.length) failures.push(`round ${round}: ${users} demo users, not ${DEMO_USERS.length}`);
      } finally {
        await check.destroy();
      }
    }
    expect(failures).toEqual([]);
  }, 600_000);
});
