import type { DataSource } from 'typeorm';

/**
 * The Postgres advisory lock key the shop's start-up holds while it creates the schema and seeds the demo rows
 * (any 64-bit number unique among the database's advisory locks: this one is "shopschm" in ASCII).
 */
export const SCHEMA_LOCK_KEY = 0x73686f70_7363686dn;

/**
 * How long a starting worker waits for the start-up lock by default: far longer than creating the schema and seeding
 * take (a few seconds on a loaded machine), short enough that a worker blocked by a stuck session says so.
 */
export const SCHEMA_LOCK_TIMEOUT_MS = 60_000;

/** Postgres' SQLSTATE for a lock wait ended by `lock_timeout`. */
const LOCK_NOT_AVAILABLE = '55P03';

/** Options of {@link underSchemaLock}. */
export interface SchemaLockOptions {
  /** How long to wait for another process to release the lock before failing. @default SCHEMA_LOCK_TIMEOUT_MS */
  timeoutMs?: number;
}

/**
 * Runs `work` while this process holds the shop's start-up lock on the database: on Postgres a session advisory lock
 * (`pg_advisory_lock`) on a connection of its own, so workers starting at once on a fresh database create the tables
 * and seed the demo rows one after the other instead of racing (TypeORM's `synchronize` of two workers collided on
 * `CREATE TYPE` / `CREATE TABLE`, and two seeds on the demo usernames: one worker failed to start). The second worker
 * then finds the schema and the rows in place and changes nothing. SQLite needs no lock here (one process's memory,
 * or a file the cluster primary prepares before forking). The lock is a session lock, so a worker that dies while
 * holding it releases it with its connection; a session that holds it and lives on (a stuck process, a forgotten
 * `psql`) makes the wait fail after `timeoutMs` with an error saying so, where it used to wait for ever.
 */
export async function underSchemaLock<T>(dataSource: DataSource, work: () => Promise<T>, options: SchemaLockOptions = {}): Promise<T> {
  if (dataSource.options.type !== 'postgres') return work();
  const timeoutMs = options.timeoutMs ?? SCHEMA_LOCK_TIMEOUT_MS;
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    // lock_timeout bounds the wait of this session's lock requests, advisory ones included; reset before the
    // connection goes back to the pool, where other queries may wait for locks as usual.
    await runner.query(`SET lock_timeout = ${Math.max(1, Math.ceil(timeoutMs))}`);
    try {
      await runner.query('SELECT pg_advisory_lock($1)', [SCHEMA_LOCK_KEY.toString()]);
    } catch (error) {
      if ((error as { driverError?: { code?: unknown } }).driverError?.code !== LOCK_NOT_AVAILABLE) throw error;
      throw new Error(
        `The shop's start-up lock (pg_advisory_lock ${SCHEMA_LOCK_KEY}) was not released within ${timeoutMs} ms: another ` +
          `session holds it (a worker creating the schema, or one stuck: find it with SELECT pid FROM pg_locks WHERE ` +
          `locktype = 'advisory', and end it with pg_terminate_backend)`,
        { cause: error },
      );
    } finally {
      await runner.query('RESET lock_timeout');
    }
    try {
      return await work();
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [SCHEMA_LOCK_KEY.toString()]);
    }
  } finally {
    await runner.release();
  }
}
