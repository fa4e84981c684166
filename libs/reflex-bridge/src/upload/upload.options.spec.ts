import { describe, expect, it } from '@jest/globals';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { InvalidOptionError } from '../invalid-option.error.js';
import { resolveOptions } from '../reflex-bridge.options.js';
import { resolveUploadOptions } from './upload.options.js';

describe('uploads options', () => {
  it('defaults: uploaded_files under the working directory, the OS temp dir, Reflex-like limits', () => {
    expect(resolveOptions({}).uploads).toEqual({
      directory: resolve(process.cwd(), 'uploaded_files'),
      tempDirectory: resolve(tmpdir()),
      maxFileBytes: 100 * 1024 * 1024,
      maxFiles: 20,
      maxTotalBytes: 1024 * 1024 * 1024,
      maxEventArgsBytes: 1024 * 1024,
      chunkQueueLength: 4,
      idleTimeoutMs: 30_000,
      maxConcurrent: 64,
      maxConcurrentPerAddress: 8,
      maxTempBytes: 16 * 1024 ** 3,
      eventArgsPerAddress: { limit: 500, ttlMs: 10_000, blockDurationMs: 0 },
    });
  });

  it('eventArgsPerAddress: false turns the budget off; a window is taken as rateLimit.perConnection takes one', () => {
    expect(resolveUploadOptions({ eventArgsPerAddress: false })?.eventArgsPerAddress).toBeUndefined();
    expect(resolveUploadOptions({ eventArgsPerAddress: { limit: 50, ttlMs: 1_000 } })?.eventArgsPerAddress).toEqual({ limit: 50, ttlMs: 1_000, blockDurationMs: 0 });
  });

  it('false turns uploads off', () => {
    expect(resolveOptions({ uploads: false }).uploads).toBeUndefined();
  });

  it('takes given values, resolving relative directories', () => {
    const resolved = resolveUploadOptions({ directory: 'media', tempDirectory: '/var/tmp/up', maxFileBytes: 10, maxFiles: 1, maxTotalBytes: 5, maxEventArgsBytes: 3, chunkQueueLength: 2, idleTimeoutMs: 7, maxConcurrent: 3, maxConcurrentPerAddress: 2, maxTempBytes: 9, eventArgsPerAddress: { limit: 4, ttlMs: 5, blockDurationMs: 6 } });
    expect(resolved).toEqual({ directory: resolve(process.cwd(), 'media'), tempDirectory: '/var/tmp/up', maxFileBytes: 10, maxFiles: 1, maxTotalBytes: 5, maxEventArgsBytes: 3, chunkQueueLength: 2, idleTimeoutMs: 7, maxConcurrent: 3, maxConcurrentPerAddress: 2, maxTempBytes: 9, eventArgsPerAddress: { limit: 4, ttlMs: 5, blockDurationMs: 6 } });
  });

  it.each([
    [{ maxFileBytes: 0 }, 'uploads.maxFileBytes'],
    [{ maxFiles: 1.5 }, 'uploads.maxFiles'],
    [{ maxTotalBytes: -1 }, 'uploads.maxTotalBytes'],
    [{ maxEventArgsBytes: '1mb' }, 'uploads.maxEventArgsBytes'],
    [{ chunkQueueLength: Number.NaN }, 'uploads.chunkQueueLength'],
    [{ idleTimeoutMs: 0 }, 'uploads.idleTimeoutMs'],
    [{ idleTimeoutMs: Infinity }, 'uploads.idleTimeoutMs'],
    [{ idleTimeoutMs: 2 ** 31 }, 'uploads.idleTimeoutMs'],
    [{ maxConcurrent: 0 }, 'uploads.maxConcurrent'],
    [{ maxConcurrent: '64' }, 'uploads.maxConcurrent'],
    [{ maxConcurrentPerAddress: 0 }, 'uploads.maxConcurrentPerAddress'],
    [{ maxConcurrentPerAddress: false }, 'uploads.maxConcurrentPerAddress'],
    [{ maxConcurrentPerAddress: 2.5 }, 'uploads.maxConcurrentPerAddress'],
    [{ maxTempBytes: 0 }, 'uploads.maxTempBytes'],
    [{ maxTempBytes: '1GB' }, 'uploads.maxTempBytes'],
    [{ directory: '' }, 'uploads.directory'],
    [{ tempDirectory: 'a\0b' }, 'uploads.tempDirectory'],
    [{ maxSize: 3 }, 'uploads.maxSize'],
    [{ eventArgsPerAddress: true }, 'uploads.eventArgsPerAddress'],
    [{ eventArgsPerAddress: { limit: 0, ttlMs: 1_000 } }, 'uploads.eventArgsPerAddress.limit'],
    [{ eventArgsPerAddress: { limit: 10, ttlMs: 0 } }, 'uploads.eventArgsPerAddress.ttlMs'],
    [{ eventArgsPerAddress: { limit: 10, ttlMs: 1_000, blockDurationMs: -1 } }, 'uploads.eventArgsPerAddress.blockDurationMs'],
    [{ eventArgsPerAddress: { limit: 10, ttlMs: 1_000, units: 3 } }, 'uploads.eventArgsPerAddress.units'],
  ])('refuses %j naming %s', (uploads, field) => {
    expect(() => resolveOptions({ uploads } as never)).toThrow(InvalidOptionError);
    expect(() => resolveOptions({ uploads } as never)).toThrow(`"${field}"`);
  });

  it('takes a per-address bound above the worker\'s cap: the worker\'s cap alone then counts', () => {
    expect(resolveUploadOptions({ maxConcurrent: 4 })).toMatchObject({ maxConcurrent: 4, maxConcurrentPerAddress: 8 });
  });

  it('refuses a value that is neither false nor an object', () => {
    expect(() => resolveOptions({ uploads: true } as never)).toThrow('"uploads"');
  });
});
