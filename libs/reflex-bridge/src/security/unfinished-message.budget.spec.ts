import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { UnfinishedMessageBudget } from './unfinished-message.budget.js';

/** A masked client frame of `payload` bytes (FIN set unless `fin` is false), as a browser sends it. */
function frame(payload: number, { fin = true, opcode = 1 } = {}): Buffer {
  const header = payload < 126 ? Buffer.from([0, 0x80 | payload]) : Buffer.from([0, 0x80 | 126, payload >> 8, payload & 0xff]);
  header[0] = (fin ? 0x80 : 0) | opcode;
  return Buffer.concat([header, Buffer.alloc(4), Buffer.alloc(payload, 0x61)]);
}

/** An Engine.IO connection over a TCP stream, as the budget sees it: real emitters, a WebSocket that records cuts. */
class Connection extends EventEmitter {
  readyState = 'open';
  readonly stream = new EventEmitter();
  readonly websocket = { isPaused: false, terminated: 0, terminate(): void { this.terminated += 1; } };
  readonly request = { socket: this.stream, websocket: this.websocket };

  send(chunk: Buffer): void {
    this.stream.emit('data', chunk);
  }

  close(): void {
    this.readyState = 'closed';
    this.emit('close');
  }
}

describe('UnfinishedMessageBudget', () => {
  let engine: EventEmitter;
  let budget: UnfinishedMessageBudget;
  const warn = jest.fn();

  function open(): Connection {
    const connection = new Connection();
    engine.emit('connection', connection);
    return connection;
  }

  beforeEach(() => {
    jest.useFakeTimers();
    warn.mockReset();
    engine = new EventEmitter();
    budget = new UnfinishedMessageBudget(10_000, 30_000, { warn });
    budget.watch(engine);
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('holds nothing, and listens for no close, for a connection that sends whole messages only', () => {
    const connection = open();
    connection.send(frame(50));
    connection.send(Buffer.concat([frame(10), frame(200), frame(0, { opcode: 9 })]));
    expect(budget.heldBytes).toBe(0);
    // What an idle connection costs the worker: no close listener of its own (each grows Engine.IO's listener array).
    expect(connection.listenerCount('close')).toBe(0);
  });

  it("follows each chunk before the stream's reader (ws) reads it, without a second data listener on the stream", () => {
    const connection = new Connection();
    // `ws` listens to the TCP stream before Engine.IO announces the connection.
    const heldWhenRead: number[] = [];
    connection.stream.on('data', () => heldWhenRead.push(budget.heldBytes));
    engine.emit('connection', connection);
    connection.send(frame(500, { fin: false }).subarray(0, 100));
    expect(heldWhenRead).toEqual([budget.heldBytes]);
    expect(budget.heldBytes).toBeGreaterThan(0);
    // A second listener is an array of two, 64 bytes per idle connection (and a copy of it for every chunk).
    expect(connection.stream.listenerCount('data')).toBe(1);
    // A stream whose emit another library replaced is followed by a listener before the reader's.
    const other = new Connection();
    const replaced = other.stream.emit;
    other.stream.emit = function (this: EventEmitter, ...args: [string, ...unknown[]]): boolean {
      return replaced.apply(this, args);
    };
    other.stream.on('data', () => heldWhenRead.push(budget.heldBytes));
    engine.emit('connection', other);
    const before = budget.heldBytes;
    other.send(frame(500, { fin: false }).subarray(0, 100));
    expect(other.stream.listenerCount('data')).toBe(2);
    expect(heldWhenRead[1]).toBeGreaterThan(before);
  });

  it('counts a message split across chunks until its last byte, then lets the connection go', () => {
    const connection = open();
    const whole = frame(3_000);
    connection.send(whole.subarray(0, 1_000));
    expect(budget.heldBytes).toBe(1_000);
    expect(connection.listenerCount('close')).toBe(1);
    connection.send(whole.subarray(1_000, 2_500));
    expect(budget.heldBytes).toBe(2_500);
    connection.send(whole.subarray(2_500));
    expect(budget.heldBytes).toBe(0);
    expect(connection.listenerCount('close')).toBe(0);
    // Between messages again: its deadline went with its message.
    jest.advanceTimersByTime(60_000);
    expect(connection.websocket.terminated).toBe(0);
  });

  it('counts a fragmented message across its frames, and a header split between chunks', () => {
    const connection = open();
    const first = frame(100, { fin: false });
    connection.send(first);
    expect(budget.heldBytes).toBe(first.length);
    const last = frame(100, { opcode: 0 });
    connection.send(last.subarray(0, 1));
    expect(budget.heldBytes).toBe(first.length + 1);
    connection.send(last.subarray(1));
    expect(budget.heldBytes).toBe(0);
  });

  it('stops counting what a connection held once it closes', () => {
    const connection = open();
    connection.send(frame(5_000).subarray(0, 4_000));
    expect(budget.heldBytes).toBe(4_000);
    connection.close();
    expect(budget.heldBytes).toBe(0);
    connection.send(frame(5_000).subarray(0, 100));
    expect(budget.heldBytes).toBe(0);
  });

  it('cuts the connection holding the most once the worker holds more than its budget, and keeps the others', () => {
    const small = open();
    const large = open();
    small.send(frame(8_000).subarray(0, 3_000));
    large.send(frame(8_000).subarray(0, 6_000));
    expect(budget.heldBytes).toBe(9_000);
    small.send(Buffer.alloc(2_000, 0x61));
    expect(large.websocket.terminated).toBe(1);
    expect(small.websocket.terminated).toBe(0);
    expect(budget.heldBytes).toBe(5_000);
    // What the cut connection still sends until its socket is gone is not counted.
    large.send(Buffer.alloc(1_000, 0x61));
    expect(budget.heldBytes).toBe(5_000);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('cuts a connection whose message neither ends within the deadline nor keeps arriving', () => {
    // A budget the steady message stays within: only the deadline decides here.
    engine = new EventEmitter();
    budget = new UnfinishedMessageBudget(1_000_000, 30_000, { warn });
    budget.watch(engine);
    const stalled = open();
    const steady = open();
    const big = frame(60_000 - 8);
    stalled.send(big.subarray(0, 10));
    steady.send(big.subarray(0, 10));
    for (let second = 1; second <= 30; second++) {
      jest.advanceTimersByTime(1_000);
      steady.send(big.subarray(10 + (second - 1) * 1_500, 10 + second * 1_500));
    }
    expect(stalled.websocket.terminated).toBe(1);
    expect(steady.websocket.terminated).toBe(0);
  });
});
