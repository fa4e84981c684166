import { describe, expect, it } from '@jest/globals';
import { then, tryCatch, tryFinally } from './maybe-promise.js';

describe('MaybePromise helpers', () => {
  it('stay synchronous for synchronous steps', () => {
    const order: string[] = [];
    const result = tryFinally(
      () => then(2, (n) => n * 21),
      () => void order.push('cleanup'),
    );
    expect(result).toBe(42);
    expect(order).toEqual(['cleanup']);
  });

  it('run the cleanup after an asynchronous body settles, and rethrow its error after the cleanup', async () => {
    const order: string[] = [];
    const failing = tryFinally(
      async () => {
        order.push('body');
        await Promise.resolve();
        throw new Error('body failed');
      },
      () => void order.push('cleanup'),
    );
    expect(order).toEqual(['body']);
    await expect(failing).rejects.toThrow('body failed');
    expect(order).toEqual(['body', 'cleanup']);
  });

  it('rethrow a synchronous error after an asynchronous cleanup', async () => {
    const order: string[] = [];
    const result = tryFinally(
      () => {
        throw new Error('sync failure');
      },
      async () => {
        await Promise.resolve();
        order.push('cleanup');
      },
    );
    await expect(result).rejects.toThrow('sync failure');
    expect(order).toEqual(['cleanup']);
  });

  it('tryCatch handles thrown and rejected errors alike', async () => {
    expect(tryCatch(() => { throw new Error('x'); }, () => 'handled')).toBe('handled');
    await expect(tryCatch(() => Promise.reject(new Error('y')), () => 'handled')).resolves.toBe('handled');
  });
});
