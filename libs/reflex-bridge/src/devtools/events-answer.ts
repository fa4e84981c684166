import type { ServerResponse } from 'node:http';

/**
 * Bytes of events one `GET <path>/events` answers at most. An event holds up to 500 steps, 50 queries and 8,000
 * characters of delta (50 kB of JSON and more): the 500 held by default came to 25 MB and more, made in one piece on
 * the event loop each time a devtools page loaded. Typical events take 1-2 kB, so 500 of them fit many times over.
 */
export const MAX_EVENTS_ANSWER_BYTES = 4 * 1024 * 1024;

/**
 * Bytes of events written at most between two turns of the event loop. Over loopback the kernel takes megabytes
 * without pushing back, so an answer written while `res.write` said yes was made whole in one turn: about 1 s on 2
 * loaded cores for 4 MiB, every other client of the worker waiting for it. 64 KiB take a few milliseconds to make.
 */
export const EVENTS_ANSWER_CHUNK_BYTES = 64 * 1024;

/** Resolves when `res` can take more (`true`), or when it closed first (`false`). */
function drained(res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const onDrain = () => {
      res.off('close', onClose);
      resolve(true);
    };
    const onClose = () => {
      res.off('drain', onDrain);
      resolve(false);
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

/** Resolves after the event loop's next I/O phase: other clients' reads and timers run first. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Writes the body of `GET <path>/events`: the events, newest first, as many as fit in {@link MAX_EVENTS_ANSWER_BYTES}
 * (the newest always, whatever its size), and `omitted`, how many of the `matching` ones were left out, when some
 * were. The events are turned into JSON and written {@link EVENTS_ANSWER_CHUNK_BYTES} at a time, each chunk once the
 * client has read the ones before (past the socket's buffer) and after the event loop had a turn: the answer was
 * made whole and written at once, so every client that asked and read nothing held up to 4 MiB of the worker's
 * memory, as many times as it opened connections, and one that read it held every other client up while it was made.
 * `events` is read only as far as the answer goes: the inspections of the events left out, or of those after the
 * client went away, are never built.
 */
export async function writeEventsAnswer(res: ServerResponse, events: Iterable<unknown>, matching: number, size: number, maxEvents: number): Promise<void> {
  res.statusCode = 200;
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  // A HEAD answer has no body: nothing to build.
  if (res.req.method === 'HEAD') return void res.end();
  const tail = `],"size":${size},"maxEvents":${maxEvents}`;
  // Room for the wrapper and the omitted count, so the whole answer stays within the bound.
  const budget = MAX_EVENTS_ANSWER_BYTES - tail.length - 64;
  let written = 0;
  let bytes = 0;
  let chunk = '{"events":[';
  let chunkBytes = chunk.length;
  for (const event of events) {
    const text = JSON.stringify(event);
    const length = Buffer.byteLength(text) + 1;
    if (written > 0 && bytes + length > budget) break;
    chunk += written > 0 ? `,${text}` : text;
    chunkBytes += length;
    written++;
    bytes += length;
    if (chunkBytes < EVENTS_ANSWER_CHUNK_BYTES) continue;
    const ready = res.write(chunk);
    chunk = '';
    chunkBytes = 0;
    if (!ready && !(await drained(res))) return;
    if (ready) await nextTurn();
    if (res.destroyed) return;
  }
  const omitted = matching - written;
  res.end(`${chunk}${tail}${omitted > 0 ? `,"omitted":${omitted}` : ''}}`);
}
