import { describe, expect, it } from '@jest/globals';
import type { ServerResponse } from 'node:http';
import { EVENTS_ANSWER_CHUNK_BYTES, MAX_EVENTS_ANSWER_BYTES, writeEventsAnswer } from './events-answer.js';

/**
 * A response whose connection takes whatever it is given at once, as the kernel does over loopback for megabytes:
 * `write` never pushes back. Records each write, and when the answer ended among `log`'s other entries.
 */
function acceptingResponse(log: string[]) {
  const writes: string[] = [];
  const res = {
    statusCode: 0,
    destroyed: false,
    req: { method: 'GET' },
    setHeader: () => undefined,
    once: () => res,
    off: () => res,
    write(text: string) {
      writes.push(text);
      return true;
    },
    end(text = '') {
      writes.push(text);
      log.push('answer ended');
    },
  };
  return { res: res as unknown as ServerResponse, writes };
}

/** `count` events of about `bytes` of JSON each. */
function eventsOf(count: number, bytes: number): Array<{ id: number; delta: string }> {
  return Array.from({ length: count }, (_, id) => ({ id, delta: 'x'.repeat(bytes) }));
}

describe('writeEventsAnswer', () => {
  it('lets the event loop serve other clients while it writes a large answer to a connection that never pushes back', async () => {
    const log: string[] = [];
    const { res, writes } = acceptingResponse(log);
    // Another client's event, waiting for the loop's next turn when the answer starts.
    setImmediate(() => log.push('another client served'));
    await writeEventsAnswer(res, eventsOf(200, 20_000), 200, 200, 500);
    // Before: the whole 4 MB answer was made and written in one turn, the other client served after it ended.
    expect(log).toEqual(['another client served', 'answer ended']);
    const body = JSON.parse(writes.join('')) as { events: Array<{ id: number }>; size: number };
    expect(body.events.map((event) => event.id)).toEqual(Array.from({ length: 200 }, (_, id) => id));
    // Written in chunks bounded by the chunk size and one event, not in one piece.
    expect(writes.length).toBeGreaterThan(1);
    expect(Math.max(...writes.map((text) => Buffer.byteLength(text)))).toBeLessThan(EVENTS_ANSWER_CHUNK_BYTES + 21_000);
  });

  it('stays within the answer bound and counts the events left out', async () => {
    const { res, writes } = acceptingResponse([]);
    await writeEventsAnswer(res, eventsOf(400, 20_000), 400, 400, 500);
    const text = writes.join('');
    const body = JSON.parse(text) as { events: unknown[]; omitted?: number };
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_EVENTS_ANSWER_BYTES);
    expect(body.events.length + (body.omitted ?? 0)).toBe(400);
    expect(body.omitted).toBeGreaterThan(0);
  });

  it('writes a small answer in one piece, at once', async () => {
    const { res, writes } = acceptingResponse([]);
    await writeEventsAnswer(res, eventsOf(2, 10), 2, 2, 500);
    expect(writes).toHaveLength(1);
    expect(JSON.parse(writes[0])).toEqual({ events: eventsOf(2, 10), size: 2, maxEvents: 500 });
  });
});
