import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { EventEmitter } from 'node:events';
import { CLOSE_GRACE_MS, cutClosedConnections } from './close-grace.js';

/** A `ws` WebSocket as the grace sees it. */
class FakeWebSocket extends EventEmitter {
  readyState = 1;
  terminated = 0;
  terminate(): void {
    this.terminated++;
    this.end();
  }
  end(): void {
    this.readyState = 3;
    this.emit('close');
  }
}

/** An engine with one connection on `ws`, made and then closed. */
function closedConnection(ws: FakeWebSocket | undefined, wsStateAtClose = 2): void {
  const engine = new EventEmitter();
  cutClosedConnections(engine as never);
  const connection = Object.assign(new EventEmitter(), { transport: { socket: ws } });
  engine.emit('connection', connection);
  if (ws) ws.readyState = wsStateAtClose;
  connection.emit('close', 'forced close');
}

describe('cutClosedConnections', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it("cuts a closed connection's WebSocket still open after the grace, and only then", () => {
    const ws = new FakeWebSocket();
    closedConnection(ws);
    jest.advanceTimersByTime(CLOSE_GRACE_MS - 1);
    expect(ws.terminated).toBe(0);
    jest.advanceTimersByTime(1);
    expect(ws.terminated).toBe(1);
  });

  it('leaves a WebSocket that ended within the grace, or had ended, and connections on other transports', () => {
    const answered = new FakeWebSocket();
    closedConnection(answered);
    answered.end();
    const ended = new FakeWebSocket();
    closedConnection(ended, 3);
    closedConnection(undefined);
    jest.advanceTimersByTime(CLOSE_GRACE_MS * 2);
    expect([answered.terminated, ended.terminated]).toEqual([0, 0]);
    expect(jest.getTimerCount()).toBe(0);
  });
});
