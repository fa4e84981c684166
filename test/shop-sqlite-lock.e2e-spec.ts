import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { buildShop, ShopWorker } from './support/shop-workers.js';

describe('the shop on a SQLite file while another process writes to it (WORKERS=N on SQLITE_PATH)', () => {
  const directory = mkdtempSync(join(tmpdir(), 'shop-sqlite-lock-'));
  const database = join(directory, 'shop.sqlite');
  let worker: ShopWorker | undefined;
  beforeAll(async () => {
    await buildShop();
    worker = await ShopWorker.start('sqlite-lock', { env: { SQLITE_PATH: database, UPLOAD_DIR: join(directory, 'uploads') }, startTimeoutMs: 120_000 });
  }, 300_000);
  afterAll(async () => {
    await worker?.stop();
    rmSync(directory, { recursive: true, force: true });
  });

  it("reads while another connection's write transaction holds the file, without blocking the worker", async () => {
    // Another worker in the middle of a write: its transaction holds the file's write lock until it commits.
    const other = await new DataSource({ type: 'better-sqlite3', database }).initialize();
    try {
      await other.query('BEGIN EXCLUSIVE');
      await other.query('UPDATE product SET name = name WHERE id = (SELECT min(id) FROM product)');
      // A login reads its user. Before: the read waited for the lock, the worker's event loop blocked for
      // better-sqlite3's busy timeout (5 s: a request sent 1 s after it to the same worker, reading nothing, was
      // answered after 4.2 s), then failed (500). The lock is held until the login answers: no race with the commit.
      const login = await fetch(`${worker!.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'demo', password: 'demo123' }) });
      expect({ status: login.status, body: await login.json() }).toEqual({ status: 200, body: { username: 'demo' } });
      // Still in its transaction (a ROLLBACK without one fails): the read did not wait for the commit.
      await other.query('ROLLBACK');
    } finally {
      await other.destroy();
    }
    expect(worker!.alive).toBe(true);
  }, 120_000);
});
