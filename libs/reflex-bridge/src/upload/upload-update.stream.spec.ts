import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { EventClient } from '../common/event-client.js';
import type { StateUpdate } from '../protocol/state-update.js';
import type { BridgeErrorPayload } from '../protocol/bridge-error.js';
import { UploadUpdateStream } from './upload-update.stream.js';

const identity = { token: 'token-1234', sid: 'sid-1', headers: {}, remoteAddress: '127.0.0.1' };

/** A socket client that records what it was sent. */
function recordingSocket(): EventClient & { updates: StateUpdate[]; errors: BridgeErrorPayload[] } {
  const updates: StateUpdate[] = [];
  const errors: BridgeErrorPayload[] = [];
  return { ...identity, updates, errors, emitUpdate: (update) => updates.push(update), emitError: (error) => errors.push(error) };
}

describe('UploadUpdateStream', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
    server = undefined;
  });

  /** Serves one request with `answer`, and returns the status, content type and body the client read. */
  async function roundTrip(answer: (res: ServerResponse) => void): Promise<{ status: number; type: string | null; body: string }> {
    server = createServer((_req, res) => answer(res));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/`);
    return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
  }

  it('writes each delta as a StateUpdate line, sends client events to the socket, and ends with the final line', async () => {
    const socket = recordingSocket();
    const seen = await roundTrip((res) => {
      const stream = new UploadUpdateStream(res, identity, socket);
      stream.emitUpdate({ delta: { s: { a_rx_state_: 1 } } });
      stream.emitUpdate({ events: [{ name: '_toast', payload: {} }] as StateUpdate['events'] });
      stream.end();
      // After the end (a follow-up event), deltas go to the socket.
      stream.emitUpdate({ delta: { s: { a_rx_state_: 2 } } });
    });
    expect(seen.status).toBe(200);
    expect(seen.type).toBe('application/x-ndjson');
    expect(seen.body).toBe('{"delta":{"s":{"a_rx_state_":1}},"events":[],"final":false}\n{"delta":{},"events":[],"final":true}\n');
    expect(socket.updates).toEqual([{ events: [{ name: '_toast', payload: {} }] }, { delta: { s: { a_rx_state_: 2 } } }]);
  });

  it('carries an error on the final line, and sends errors to the socket', async () => {
    const socket = recordingSocket();
    const seen = await roundTrip((res) => {
      const stream = new UploadUpdateStream(res, identity, socket);
      stream.emitError({ code: 'handler_error', message: 'boom' });
      expect(stream.started).toBe(false);
      stream.end({ code: 'handler_error', message: 'boom' });
    });
    expect(JSON.parse(seen.body)).toEqual({ delta: {}, events: [], final: true, error: { code: 'handler_error', message: 'boom' } });
    expect(socket.errors).toEqual([{ code: 'handler_error', message: 'boom' }]);
  });

  /** A long handler's progress: one delta of about 64 KiB. */
  const progress = (step: number): StateUpdate => ({ delta: { s: { step_rx_state_: step, blob_rx_state_: 'x'.repeat(64 * 1024) } } });
  const MAX_BACKLOG_BYTES = 256 * 1024;

  /** Starts a server whose one answer is handed to `onAnswer`, and returns its address. */
  async function serveOne(onAnswer: (res: ServerResponse) => void): Promise<AddressInfo> {
    server = createServer((_req, res) => onAnswer(res));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return server.address() as AddressInfo;
  }

  it('closes the answer of a client that leaves more than maxBacklogBytes unread, says so once, and sends the rest to the socket', async () => {
    const socket = recordingSocket();
    const cutOffs: number[] = [];
    let answer: ServerResponse | undefined;
    const { port } = await serveOne((res) => (answer = res));
    // A client that sends its request and never reads a byte of the answer.
    const client: Socket = connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    client.pause();
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    try {
      while (answer === undefined) await new Promise((resolve) => setImmediate(resolve));
      const res = answer;
      const stream = new UploadUpdateStream(res, identity, socket, MAX_BACKLOG_BYTES, (unread) => cutOffs.push(unread));
      // Steps until the answer is cut (the kernel's buffers take a few MiB first), bounded so a stream that never cuts
      // fails here rather than filling the memory.
      let steps = 0;
      while (cutOffs.length === 0 && steps < 1024) {
        stream.emitUpdate(progress(steps++));
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(cutOffs).toHaveLength(1);
      expect(cutOffs[0]).toBeGreaterThan(MAX_BACKLOG_BYTES);
      // What waited for the client is let go with its connection (which cancels the upload, see the route).
      expect(res.destroyed).toBe(true);
      // The step that found the answer unread, and every later one, reach the tab over its socket; no second report.
      expect(socket.updates).toEqual([{ delta: progress(steps - 1).delta }]);
      stream.emitUpdate(progress(steps));
      stream.end();
      expect(socket.updates.map((update) => update.delta?.s?.step_rx_state_)).toEqual([steps - 1, steps]);
      expect(cutOffs).toHaveLength(1);
    } finally {
      client.destroy();
    }
  });

  it('never cuts a client that reads its answer, however long', async () => {
    const socket = recordingSocket();
    const cutOffs: number[] = [];
    const steps = 200;
    const { port } = await serveOne((res) => {
      void (async () => {
        const stream = new UploadUpdateStream(res, identity, socket, MAX_BACKLOG_BYTES, (unread) => cutOffs.push(unread));
        for (let step = 0; step < steps; step++) {
          stream.emitUpdate(progress(step));
          // A handler's steps come no faster than the client reads them (its pace, not a timer).
          if (res.writableNeedDrain) await once(res, 'drain');
        }
        stream.end();
      })();
    });
    const response = await fetch(`http://127.0.0.1:${port}/`);
    const lines = (await response.text()).trim().split('\n');
    expect(lines).toHaveLength(steps + 1);
    expect(JSON.parse(lines[steps - 1]!)).toMatchObject({ delta: { s: { step_rx_state_: steps - 1 } }, final: false });
    expect(cutOffs).toEqual([]);
    expect(socket.updates).toEqual([]);
  });
});
