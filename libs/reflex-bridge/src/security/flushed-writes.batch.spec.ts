import { EventEmitter } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { batchFlushedWrites } from './flushed-writes.batch.js';

/** An Engine.IO connection's shape as the batch sees it, with a stream that records what it was asked. */
function connection() {
  const calls: string[] = [];
  const stream = { cork: () => void calls.push('cork'), uncork: () => void calls.push('uncork') };
  const conn = Object.assign(new EventEmitter(), { transport: { socket: { _socket: stream } } });
  return { conn, calls };
}

const nextTick = () => new Promise<void>((resolve) => process.nextTick(resolve));

describe('batchFlushedWrites', () => {
  it('corks the socket while a batch of several packets is written, and uncorks it once, a tick later', async () => {
    const { conn, calls } = connection();
    batchFlushedWrites(conn);
    conn.emit('flush', ['a', 'b', 'c']);
    calls.push('written');
    expect(calls).toEqual(['cork', 'written']);
    await nextTick();
    expect(calls).toEqual(['cork', 'written', 'uncork']);
  });

  it('leaves a single packet alone, and sets a connection up once however often it floods', async () => {
    const { conn, calls } = connection();
    batchFlushedWrites(conn);
    batchFlushedWrites(conn);
    expect(conn.listenerCount('flush')).toBe(1);
    conn.emit('flush', ['a']);
    await nextTick();
    expect(calls).toEqual([]);
  });

  it('does nothing on a transport without a corkable socket', async () => {
    const conn = Object.assign(new EventEmitter(), { transport: { socket: {} } });
    batchFlushedWrites(conn);
    expect(() => conn.emit('flush', ['a', 'b'])).not.toThrow();
    await nextTick();
  });
});
