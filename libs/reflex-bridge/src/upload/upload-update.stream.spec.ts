import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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
});
