import { describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { LingeringDrain } from './lingering-drain.js';

/** A socket as the drain sees it: what it read so far, whether it is paused, its close. */
class FakeSocket extends EventEmitter {
  bytesRead = 0;
  destroyed = false;
  isPausedNow = false;
  pause(): this {
    this.isPausedNow = true;
    return this;
  }
  resume(): this {
    this.isPausedNow = false;
    return this;
  }
  close(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

const MiB = 1024 * 1024;

function drainWithClock(burst = 4 * MiB, perSecond = 2 * MiB): { drain: LingeringDrain; advance: (ms: number) => void } {
  let now = 0;
  const drain = new LingeringDrain(burst, perSecond, () => now);
  return { drain, advance: (ms) => (now += ms) };
}

describe('LingeringDrain', () => {
  it('lets lingering connections read their burst, then pauses them all until the rate has given it back', () => {
    const { drain, advance } = drainWithClock();
    const [a, b] = [new FakeSocket(), new FakeSocket()];
    drain.add(a as unknown as Socket);
    drain.add(b as unknown as Socket);
    try {
      a.bytesRead += 2 * MiB;
      b.bytesRead += 1.5 * MiB;
      drain.tick();
      expect([a.isPausedNow, b.isPausedNow]).toEqual([false, false]);
      // Together past the burst: both wait, the one that read little as well (the thread is what is bounded).
      b.bytesRead += 1 * MiB;
      drain.tick();
      expect([a.isPausedNow, b.isPausedNow]).toEqual([true, true]);
      // 0.5 MiB over: a quarter of a second at 2 MiB/s pays it back.
      advance(200);
      drain.tick();
      expect(a.isPausedNow).toBe(true);
      advance(100);
      drain.tick();
      expect([a.isPausedNow, b.isPausedNow]).toEqual([false, false]);
    } finally {
      a.close();
      b.close();
      drain.tick();
    }
  });

  it('reads at most the burst plus the rate over time, whatever the connections read between looks', () => {
    const { drain, advance } = drainWithClock(1 * MiB, 1 * MiB);
    const sockets = Array.from({ length: 5 }, () => new FakeSocket());
    for (const socket of sockets) drain.add(socket as unknown as Socket);
    let read = 0;
    try {
      // Each look, every socket not paused reads 256 KiB: far faster than the rate.
      for (let look = 0; look < 500; look++) {
        advance(20);
        for (const socket of sockets) {
          if (socket.isPausedNow) continue;
          socket.bytesRead += 256 * 1024;
          read += 256 * 1024;
        }
        drain.tick();
      }
      // 10 s: the burst, 10 MiB, and at most one look's reading over.
      expect(read).toBeLessThanOrEqual(1 * MiB + 10 * MiB + 5 * 256 * 1024);
      expect(read).toBeGreaterThanOrEqual(10 * MiB);
    } finally {
      for (const socket of sockets) socket.close();
      drain.tick();
    }
  });

  it('pauses a connection that starts to linger while the allowance is spent, and forgets closed ones', async () => {
    const { drain } = drainWithClock(1 * MiB, 1 * MiB);
    const first = new FakeSocket();
    drain.add(first as unknown as Socket);
    first.bytesRead += 2 * MiB;
    drain.tick();
    expect(first.isPausedNow).toBe(true);
    const late = new FakeSocket();
    drain.add(late as unknown as Socket);
    // After the request's dump, which resumes the socket on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    expect(late.isPausedNow).toBe(true);
    first.close();
    late.close();
    expect(drain.size).toBe(0);
    drain.tick();
  });
});
