import { describe, expect, it } from '@jest/globals';
import { Encoder } from 'socket.io-parser';
import { EventFrameSizeMeter } from './event-frame-size.meter.js';

/** The data of the Engine.IO `message` packet a Socket.IO client sends for `socket.emit(name, body)`. */
function engineMessageData(namespace: string, name: string, body: unknown): string {
  const [encoded] = new Encoder().encode({ type: 2, nsp: namespace, data: [name, body] });
  return encoded as string;
}

describe('EventFrameSizeMeter', () => {
  it('hands each event the size of its own frame, in arrival order', () => {
    const meter = new EventFrameSizeMeter('/_event', 1_000_000);
    const small = engineMessageData('/_event', 'event', { name: 'a.b', payload: {} });
    const large = engineMessageData('/_event', 'event', { name: 'a.b', payload: { text: 'x'.repeat(5000) } });
    meter.record(small);
    meter.record(large);
    meter.record(small);
    expect(meter.pending).toBe(3);
    expect([meter.next(), meter.next(), meter.next()]).toEqual([small.length, large.length, small.length]);
  });

  it('ignores other packets and namespaces, and charges an event it did not see the largest size', () => {
    const meter = new EventFrameSizeMeter('/_event', 1_000_000);
    meter.record(engineMessageData('/_event', 'client_error', { message: 'x' }));
    meter.record(engineMessageData('/', 'event', { name: 'a.b' }));
    meter.record(Buffer.from('binary'));
    expect(meter.pending).toBe(0);
    expect(meter.next()).toBe(1_000_000);
  });

  it('keeps order when sizes are taken while others arrive', () => {
    const meter = new EventFrameSizeMeter('/_event', 1_000_000);
    const frames = [1, 2, 3, 4].map((n) => engineMessageData('/_event', 'event', { name: 'a.b', payload: { text: 'x'.repeat(n * 10) } }));
    meter.record(frames[0]);
    expect(meter.next()).toBe(frames[0]!.length);
    meter.record(frames[1]);
    meter.record(frames[2]);
    expect(meter.next()).toBe(frames[1]!.length);
    meter.record(frames[3]);
    expect([meter.next(), meter.next(), meter.pending, meter.next()]).toEqual([frames[2]!.length, frames[3]!.length, 0, 1_000_000]);
  });
});
