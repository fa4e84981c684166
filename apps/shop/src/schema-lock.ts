import type { DataSource } from 'typeorm';

/**
 * The Postgres advisory lock key the shop's start-up holds while it creates the schema and seeds the demo rows
 * (any 64-bit number unique among the database's advisory locks: this one is "shopschm" in ASCII).
 */
export const SCHEMA_LOCK_KEY = 0x73686f70_7363686dn;

/**
 * Runs `work` while this process holds the shop's start-up lock on the database: on Postgres a session advisory lock
 * (`pg_advisory_lock`) on a connection of its own, so workers starting at once on a fresh database create the tables
 * and seed the demo rows one after the other instead of racing (TypeORM's `synchronize` of two workers collided on
 * `CREATE TYPE` / `CREATE TABLE`, and two seeds on the demo usernames: one worker failed to start). The second worker
 * then finds the schema and the rows in place and changes nothing. SQLite is one process's own file or memory: no lock.
 * The lock is a session lock, so a worker that dies while holding it releases it with its connection.
 */
export async function underSchemaLock<T>(dataSource: DataSource, work: () => Promise<T>): Promise<T> {
  if (dataSource.options.type !== 'postgres') return work();
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [SCHEMA_LOCK_KEY.toString()]);
    try {
      return await work();
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [SCHEMA_LOCK_KEY.toString()]);
    }
  } finally {
    await runner.release();
  }
}
