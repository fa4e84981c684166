import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceUnavailableException } from '@nestjs/common';
import { BridgeError } from '@reflex-bridge/nest';

/**
 * How long a SQLite statement waits for another connection's write lock (better-sqlite3's `timeout`). It waits
 * synchronously, holding the worker's event loop, so every client of the worker waits as long: at better-sqlite3's
 * default of 5 s, one cart add on a file another worker was writing (`WORKERS=N`) stalled every socket of its worker
 * for 5 s and then failed with the driver's error. Short, and retried after a pause that frees the loop.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 200;

/** Attempts of a write that found the file locked, before its client is told to try again. */
export const SQLITE_WRITE_ATTEMPTS = 3;

/** The pause before the next attempt, times the attempts made: the event loop serves other clients meanwhile. */
const RETRY_PAUSE_MS = 50;

/** Whether `error` is SQLite's "the database is locked" (`SQLITE_BUSY` and its extended codes), as is or as TypeORM wraps it. */
export function isSqliteBusy(error: unknown): boolean {
  const busy = (candidate: unknown) => {
    const code = (candidate as { code?: unknown } | null)?.code;
    return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
  };
  return busy(error) || busy((error as { driverError?: unknown } | null)?.driverError);
}

/**
 * Runs `write`, a SQLite write that either took effect or did nothing (one statement, or one transaction), again
 * while it finds the file's write lock held by another worker, up to {@link SQLITE_WRITE_ATTEMPTS} times; then
 * refuses with a `busy` {@link BridgeError} (503) the client may retry, rather than a `handler_error` carrying the
 * driver's message. Nothing was written for a refused write. Other errors, and Postgres's, pass through untouched.
 */
export async function retryWhileLocked<T>(write: () => T | Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!isSqliteBusy(error)) throw error;
      if (attempt >= SQLITE_WRITE_ATTEMPTS) {
        throw new BridgeError('busy', 'The shop is saving other changes right now; nothing was changed. Please try again in a moment.', undefined, 503);
      }
      await sleep(RETRY_PAUSE_MS * attempt);
    }
  }
}

/**
 * `write` for an HTTP route: a {@link retryWhileLocked} refusal as a 503 with Nest's JSON body and `code: 'busy'`.
 * A `BridgeError` is not an `HttpException`: thrown from a controller it was a 500 "Internal server error".
 */
export async function answeredBusyOverHttp<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (error) {
    if (error instanceof BridgeError && error.code === 'busy') {
      throw new ServiceUnavailableException({ statusCode: 503, error: 'Service Unavailable', code: 'busy', message: error.message });
    }
    throw error;
  }
}
