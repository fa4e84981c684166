import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { SCHEMA_LOCK_KEY, underSchemaLock } from '../apps/shop/src/schema-lock.js';
import { describeWithPostgres, PostgresTestServer } from './support/postgres-server.js';

describeWithPostgres('the shop start-up lock on Postgres', () => {
  let postgres: PostgresTestServer;
  let holder: Client;
  let dataSource: DataSource;
  beforeAll(async () => {
    postgres = await PostgresTestServer.launch();
    holder = new Client({ connectionString: postgres.connectionString });
    await holder.connect();
    dataSource = await new DataSource({ type: 'postgres', url: postgres.connectionString }).initialize();
  }, 120_000);
  afterAll(async () => {
    await dataSource?.destroy();
    await holder?.end();
    await postgres?.destroy();
  });

  it('held elsewhere past the timeout: fails with an error naming the lock, instead of waiting forever', async () => {
    // Another session holds the lock and never lets go (a stuck worker, a forgotten psql session).
    await holder.query('SELECT pg_advisory_lock($1)', [SCHEMA_LOCK_KEY.toString()]);
    let ran = false;
    const attempt = underSchemaLock(dataSource, async () => void (ran = true), { timeoutMs: 300 });
    // Before: `pg_advisory_lock` waited for ever and the worker never started. A deadline far past the lock's own.
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 20_000)));
    const outcome = await Promise.race([attempt.then(() => 'acquired', (error: unknown) => error), hung]);
    clearTimeout(timer);
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(/start-up lock.*pg_advisory_lock.*300 ms/s);
    expect(ran).toBe(false);
    // The connection went back to the pool without the timeout: a later query may wait for locks as usual.
    expect((await dataSource.query('SHOW lock_timeout'))[0].lock_timeout).toBe('0');
    // Released by its holder, the lock is taken and the work runs.
    await holder.query('SELECT pg_advisory_unlock($1)', [SCHEMA_LOCK_KEY.toString()]);
    await underSchemaLock(dataSource, async () => void (ran = true), { timeoutMs: 300 });
    expect(ran).toBe(true);
  }, 60_000);
});
