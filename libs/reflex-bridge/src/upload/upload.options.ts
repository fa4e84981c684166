import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { InvalidOptionError } from '../invalid-option.error.js';
import { assertTimerMs } from '../common/timer-ms.js';
import { DEFAULT_CHUNK_QUEUE_LENGTH } from './upload-chunk-iterator.js';
import { resolveRateLimitWindow, type RateLimitWindow } from '../security/rate-limit.options.js';

/**
 * The `uploads` section of the module options: where uploads go and how big they may be. Every limit passed is
 * answered `413` with the limit in the body.
 */
export interface UploadOptions {
  /**
   * Where the app stores uploaded files, and where `GET <prefix>/_upload/<path>` serves them from. A relative path
   * is resolved against the working directory at startup.
   * @default 'uploaded_files'
   */
  directory?: string;
  /**
   * Where buffered uploads are written while their handler runs (one directory per request, removed when the
   * handler ends); created, with its parents, at the first upload when missing. Put it on the same device as
   * `directory` so `UploadFile.moveTo` is a rename. What a crashed worker left here is removed at the next start.
   * @default os.tmpdir()
   */
  tempDirectory?: string;
  /**
   * Largest file of an upload, in bytes.
   * @default 104_857_600 (100 MiB)
   */
  maxFileBytes?: number;
  /**
   * Most files in one upload request.
   * @default 20
   */
  maxFiles?: number;
  /**
   * Largest total of all files of one upload request, in bytes.
   * @default 1_073_741_824 (1 GiB)
   */
  maxTotalBytes?: number;
  /**
   * Largest `__reflex_event_args` field (the handler's extra arguments as JSON), in bytes; also the cap of any other
   * text field, which is read and ignored. Before it is parsed, the field may open at most one object or array per 20
   * bytes of this and carry at most one distinct key name per 100 bytes, as an event frame.
   * @default 1_048_576 (1 MiB, as Reflex's streaming mode)
   */
  maxEventArgsBytes?: number;
  /**
   * Chunks a streaming upload's iterator holds while its handler is busy; when it is full the request is paused.
   * @default 4 (Reflex: 8)
   */
  chunkQueueLength?: number;
  /**
   * Milliseconds an upload's body may go without a byte from the client before the upload is ended with
   * `408 upload_idle_timeout`, as a cancellation ends it: a streaming handler's signal fires and its loop throws, a
   * buffered upload's temp files are removed, and the tab's next event runs at once. Without it a client that stops
   * sending mid-body held the tab's state lock (streaming) or a temp file (buffered) until Node's `requestTimeout`.
   * Time the server itself holds the body back (the disk or a streaming handler is behind) does not count. It also
   * bounds a stored file's answer: a client that takes nothing of it for this long is cut.
   * @default 30_000
   */
  idleTimeoutMs?: number;
  /**
   * Uploads one worker accepts at a time, from all clients together, counted from the request's arrival until it was
   * answered, its handler ended and its body ended (a body refused mid-way is read and dropped to its end, or its
   * connection closed, before its slot is free). Past it a new upload is refused before its body is read, with
   * `503 uploads_busy`, a `Retry-After` header, and its connection closed; uploads in progress go on. Bounds the
   * temp disk (up to `maxConcurrent × maxTotalBytes` in buffered mode) and the open upload requests a worker holds
   * whatever the number of client addresses (a proxy's per-address `limit_conn` does not).
   * @default 64
   */
  maxConcurrent?: number;
  /**
   * Uploads one worker accepts at a time from one client address, counted as {@link maxConcurrent} counts them, the
   * address as handler rate limits key it (the peer address, or with `bridge.trustProxy` the last `X-Forwarded-For`
   * entry; IPv6 grouped by `rateLimit.ipv6SubnetPrefix`). Past it a new upload from that address is refused before
   * its body is read, with `429 too_many_uploads`, a `Retry-After` header, and its connection closed; other
   * addresses' uploads go on. Without it one client (one address, with as many connections as a proxy lets it open)
   * that sends a byte just often enough to escape {@link idleTimeoutMs} held every slot of the worker until Node's
   * `requestTimeout`, and every other user's upload was refused `503 uploads_busy`. The default leaves a browser
   * room for its own parallel uploads (it opens at most 6 connections per host over HTTP/1.1) while it takes 8
   * addresses to fill a worker of 64. Raise it when many users share one address (an office NAT, a proxy you do
   * not trust with `X-Forwarded-For`); a value of `maxConcurrent` or more leaves the worker's cap alone to count.
   * @default 8
   */
  maxConcurrentPerAddress?: number;
  /**
   * Bytes all buffered uploads of one worker may hold in {@link tempDirectory} at once, taken as their files are
   * written and given back once their temp files were removed. An upload whose file would pass it fails with
   * `507 upload_storage_full` (the limit in the body), keeps nothing, and the rest of its body is read and dropped;
   * uploads already stored go on. {@link maxTotalBytes} and {@link maxConcurrent} alone let a worker's uploads hold
   * their product (64 GiB with the defaults): enough for a few clients to fill a disk the app's database and logs may
   * share. Set it to what the temp directory's device can spare, divided by the workers on the machine. Streaming
   * uploads store nothing and take none of it.
   * @default 17_179_869_184 (16 GiB)
   */
  maxTempBytes?: number;
  /**
   * The budget of form text one client address's uploads may send the worker, counted as `rateLimit.perConnection`
   * counts a connection's messages: each text field (`__reflex_event_args`, and any other field, read and ignored)
   * costs one unit per 8,192 characters or part of them, at most `limit` units per window of `ttlMs` milliseconds from
   * the address's first charge, the address as {@link maxConcurrentPerAddress} counts it. A field is charged once
   * busboy has read it, before `__reflex_event_args` is scanned and parsed (a field refused for its shape was scanned,
   * and is charged). Once the budget is spent, a new upload from that address is refused before its body is read,
   * `429 {"detail", "code": "rate_limited"}` with `Retry-After` and its connection closed, until the window ends (or for
   * `blockDurationMs` after the first refusal, when above 0); a field one of its uploads under way reads meanwhile is
   * refused the same way without being scanned. Other addresses' uploads go on. Scanning and parsing a megabyte of
   * arguments costs the worker's one thread several milliseconds (far more for some shapes), and an upload counts
   * against no connection's budget: without this, one address looping on uploads of 1 MB arguments, 4 or 8 at a time,
   * took another client's round trips from about 1 ms to a median of 23-29 ms. A tab sends a few hundred characters
   * per upload (one unit); the default lets one address send some 4 MB per 10 s. Independent of `rateLimit` (counted
   * in the worker, whatever `rateLimit.storage` is). `false` turns it off.
   * @default { limit: 500, ttlMs: 10_000, blockDurationMs: 0 }
   */
  eventArgsPerAddress?: false | RateLimitWindow;
}

/** {@link UploadOptions} after defaults: absolute directories and every limit set. */
export interface ResolvedUploadOptions {
  directory: string;
  tempDirectory: string;
  maxFileBytes: number;
  maxFiles: number;
  maxTotalBytes: number;
  maxEventArgsBytes: number;
  chunkQueueLength: number;
  idleTimeoutMs: number;
  maxConcurrent: number;
  maxConcurrentPerAddress: number;
  maxTempBytes: number;
  /** Undefined when off (`false`). */
  eventArgsPerAddress: Required<RateLimitWindow> | undefined;
}

/** The defaults of {@link UploadOptions} (directories are resolved when the options are). */
export const DEFAULT_UPLOAD_OPTIONS = {
  directory: 'uploaded_files',
  maxFileBytes: 100 * 1024 * 1024,
  maxFiles: 20,
  maxTotalBytes: 1024 * 1024 * 1024,
  maxEventArgsBytes: 1024 * 1024,
  chunkQueueLength: DEFAULT_CHUNK_QUEUE_LENGTH,
  idleTimeoutMs: 30_000,
  maxConcurrent: 64,
  maxConcurrentPerAddress: 8,
  maxTempBytes: 16 * 1024 * 1024 * 1024,
  eventArgsPerAddress: { limit: 500, ttlMs: 10_000, blockDurationMs: 0 },
} as const;

const LIMITS = ['maxFileBytes', 'maxFiles', 'maxTotalBytes', 'maxEventArgsBytes', 'chunkQueueLength', 'idleTimeoutMs', 'maxConcurrent', 'maxConcurrentPerAddress', 'maxTempBytes'] as const;
const KNOWN = new Set<string>(['directory', 'tempDirectory', 'eventArgsPerAddress', ...LIMITS]);

function directoryOption(field: string, value: unknown, fallback: string): string {
  const given = value ?? fallback;
  if (typeof given !== 'string' || given.trim() === '' || given.includes('\0')) {
    throw new InvalidOptionError(field, `expected a directory path, got ${JSON.stringify(value)}`);
  }
  return resolve(process.cwd(), given);
}

/**
 * Merges the defaults into `options` and validates every field; errors name the field as `<prefix>.<field>`.
 * @returns undefined when uploads are off (`false`): no upload routes are served.
 */
export function resolveUploadOptions(options: false | UploadOptions | undefined, prefix = 'uploads'): ResolvedUploadOptions | undefined {
  if (options === false) return undefined;
  const given = options ?? {};
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new InvalidOptionError(prefix, 'expected false or an object');
  for (const key of Object.keys(given)) {
    if (!KNOWN.has(key)) throw new InvalidOptionError(`${prefix}.${key}`, 'unknown option');
  }
  const resolved = {
    directory: directoryOption(`${prefix}.directory`, given.directory, DEFAULT_UPLOAD_OPTIONS.directory),
    tempDirectory: directoryOption(`${prefix}.tempDirectory`, given.tempDirectory, tmpdir()),
  } as ResolvedUploadOptions;
  for (const key of LIMITS) {
    const value = given[key] ?? DEFAULT_UPLOAD_OPTIONS[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new InvalidOptionError(`${prefix}.${key}`, `expected a positive integer, got ${JSON.stringify(value)}`);
    }
    resolved[key] = value;
  }
  // A longer delay makes Node's timers fire at once (with a warning): every upload would end as idle.
  assertTimerMs(`${prefix}.idleTimeoutMs`, resolved.idleTimeoutMs);
  resolved.eventArgsPerAddress =
    given.eventArgsPerAddress === false ? undefined : resolveRateLimitWindow(`${prefix}.eventArgsPerAddress`, given.eventArgsPerAddress ?? DEFAULT_UPLOAD_OPTIONS.eventArgsPerAddress);
  return resolved;
}
