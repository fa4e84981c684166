import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BridgeError } from '@reflex-bridge/nest';
import { DataSource } from 'typeorm';
import { isSqliteBusy, retryWhileLocked, SQLITE_BUSY_TIMEOUT_MS, SQLITE_WRITE_ATTEMPTS } from './sqlite-busy.js';

describe('a SQLite write while another connection holds the write lock', () => {
  it('is tried again a few times, then refused as a retryable busy that wrote nothing; other errors pass through', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'sqlite-busy-'));
    const database = join(directory, 'x.sqlite');
    const holder = await new DataSource({ type: 'better-sqlite3', database, enableWAL: true }).initialize();
    const writer = await new DataSource({ type: 'better-sqlite3', database, enableWAL: true, timeout: SQLITE_BUSY_TIMEOUT_MS }).initialize();
    try {
      await holder.query('CREATE TABLE t (n INTEGER)');
      await holder.query('BEGIN IMMEDIATE');
      let attempts = 0;
      const refused = await retryWhileLocked(() => {
        attempts++;
        return writer.query('INSERT INTO t (n) VALUES (1)');
      }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(BridgeError);
      expect(refused).toMatchObject({ code: 'busy', status: 503 });
      expect(attempts).toBe(SQLITE_WRITE_ATTEMPTS);
      await holder.query('ROLLBACK');
      expect(await writer.query('SELECT count(*) AS n FROM t')).toEqual([{ n: 0 }]);
      // Free again: the write goes through at the first attempt.
      await retryWhileLocked(() => writer.query('INSERT INTO t (n) VALUES (1)'));
      expect(await writer.query('SELECT count(*) AS n FROM t')).toEqual([{ n: 1 }]);
      // Not a lock: as thrown, at once.
      attempts = 0;
      await expect(
        retryWhileLocked(() => {
          attempts++;
          return writer.query('INSERT INTO missing (n) VALUES (1)');
        }),
      ).rejects.toThrow(/no such table/);
      expect(attempts).toBe(1);
    } finally {
      await writer.destroy();
      await holder.destroy();
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('tells SQLITE_BUSY and its extended codes, as is or wrapped by TypeORM', () => {
    for (const error of [{ code: 'SQLITE_BUSY' }, { code: 'SQLITE_BUSY_SNAPSHOT' }, { driverError: { code: 'SQLITE_BUSY' } }]) expect(isSqliteBusy(error)).toBe(true);
    for (const error of [null, undefined, 'SQLITE_BUSY', { code: 'SQLITE_CONSTRAINT' }, { code: 40001 }, { driverError: null }]) expect(isSqliteBusy(error)).toBe(false);
  });
});
