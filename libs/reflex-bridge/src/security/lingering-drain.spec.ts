import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { LingeringDrain, MAX_LINGERING_PER_ADDRESS } from './lingering-drain.js';

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
/** The drain's look interval. */
const LOOK_MS = 20;

function drainWithClock(burst = 4 * MiB, perSecond = 2 * MiB): { drain: LingeringDrain; advance: (ms: number) => void } {
  let now = 0;
  const drain = new LingeringDrain(burst, perSecond, () => now);
  return { drain, advance: (ms) => (now += ms) };
}

/** After the request's dump, which resumes the socket on the next tick (the drain pauses a new socket after it). */
const afterDump = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const linger = (drain: LingeringDrain, address: string): FakeSocket => {
  const socket = new FakeSocket();
  drain.add(socket as unknown as Socket, address);
  return socket;
};

describe('LingeringDrain', () => {
  it("lets an address's lingering connections read its burst, then pauses them all until the rate has given it back", () => {
    const { drain, advance } = drainWithClock();
    const [a, b] = [linger(drain, '203.0.113.7'), linger(drain, '203.0.113.7')];
    try {
      a.bytesRead += 2 * MiB;
      b.bytesRead += 1.5 * MiB;
      drain.tick();
      expect([a.isPausedNow, b.isPausedNow]).toEqual([false, false]);
      // Together past the burst: both wait, the one that read little as well (the address is what is bounded).
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
    // Two addresses, as an attacker with two would: together they get the rate, no more.
    const sockets = Array.from({ length: 5 }, (_, i) => linger(drain, i % 2 === 0 ? '203.0.113.7' : '198.51.100.9'));
    let read = 0;
    try {
      // Each look, every socket not paused reads 256 KiB: far faster than the rate.
      for (let look = 0; look < 500; look++) {
        advance(LOOK_MS);
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

  it('pauses a connection that starts to linger while its address has spent its allowance, and forgets closed ones', async () => {
    const { drain } = drainWithClock(1 * MiB, 1 * MiB);
    const first = linger(drain, '203.0.113.7');
    first.bytesRead += 2 * MiB;
    drain.tick();
    expect(first.isPausedNow).toBe(true);
    const late = linger(drain, '203.0.113.7');
    await afterDump();
    expect(late.isPausedNow).toBe(true);
    first.close();
    late.close();
    expect(drain.size).toBe(0);
    drain.tick();
  });

  it("goes on reading another address's connection while one address has spent its allowance, at an equal part of the rate", async () => {
    const { drain, advance } = drainWithClock(1 * MiB, 1 * MiB);
    const attacker = Array.from({ length: 8 }, () => linger(drain, '203.0.113.7'));
    let victim: FakeSocket | undefined;
    try {
      for (const socket of attacker) socket.bytesRead += 1 * MiB;
      drain.tick();
      expect(attacker.every((socket) => socket.isPausedNow)).toBe(true);
      // A browser's refused upload from another address, 2 MiB to send: it reads its part of the rate while the
      // attacker pays back what it read, and is never held behind it for longer than a look.
      victim = linger(drain, '198.51.100.9');
      await afterDump();
      let victimRead = 0;
      let looks = 0;
      while (victimRead < 2 * MiB) {
        advance(LOOK_MS);
        drain.tick();
        looks += 1;
        if (!victim.isPausedNow) {
          const part = Math.min(10 * 1024, 2 * MiB - victimRead);
          victim.bytesRead += part;
          victimRead += part;
        }
        for (const socket of attacker) if (!socket.isPausedNow) socket.bytesRead += 256 * 1024;
      }
      // Half of 1 MiB/s (about 10.5 KB a look, 10 KiB read): 2 MiB in about 205 looks, never paused after the first.
      expect(looks).toBeLessThanOrEqual(206);
      // The attacker owes 7 MiB: still paused, half of the rate paying it back.
      expect(attacker.every((socket) => socket.isPausedNow)).toBe(true);
    } finally {
      for (const socket of [...attacker, victim]) socket?.close();
      drain.tick();
    }
  });

  it('keeps what an address read past its allowance after its connections closed: a new address waits until it is paid back', async () => {
    const { drain, advance } = drainWithClock(1 * MiB, 1 * MiB);
    const gone = linger(drain, '203.0.113.7');
    gone.bytesRead += 3 * MiB;
    gone.close();
    drain.tick();
    // 2 MiB owed: an address opening a connection now would read its look's worth and leave owing it too.
    const next = linger(drain, '198.51.100.9');
    await afterDump();
    for (let look = 0; look < 50; look++) {
      advance(LOOK_MS);
      drain.tick();
    }
    // 1 s: half of the rate each, the owed 2 MiB not paid back yet.
    expect(next.isPausedNow).toBe(true);
    for (let look = 0; look < 200 && next.isPausedNow; look++) {
      advance(LOOK_MS);
      drain.tick();
    }
    expect(next.isPausedNow).toBe(false);
    next.close();
    for (let look = 0; look < 3; look++) drain.tick();
    expect(drain.addressCount).toBe(0);
  });

  it('admits at most MAX_LINGERING_PER_ADDRESS lingering connections of one address at once, and others beside them', () => {
    const { drain } = drainWithClock();
    const sockets = Array.from({ length: MAX_LINGERING_PER_ADDRESS }, () => linger(drain, '203.0.113.7'));
    expect(drain.admits('203.0.113.7')).toBe(false);
    expect(drain.admits('198.51.100.9')).toBe(true);
    sockets[0]!.close();
    expect(drain.admits('203.0.113.7')).toBe(true);
    for (const socket of sockets) socket.close();
    drain.tick();
  });

  /** A lingering connection of a scenario: from which address, from which look to which, and what it reads a look. */
  const connection = fc.record({
    address: fc.integer({ min: 0, max: 4 }),
    from: fc.integer({ min: 0, max: 60 }),
    lasts: fc.integer({ min: 1, max: 120 }),
    readsPerLook: fc.integer({ min: 0, max: 512 * 1024 }),
  });

  it("whatever the addresses and reads: within the burst, the rate and one look of each address's reading over any window; a modest address is never paused", async () => {
    const burst = 1 * MiB;
    const perSecond = 2 * MiB;
    await fc.assert(
      fc.asyncProperty(fc.array(connection, { maxLength: 24 }), fc.integer({ min: 0, max: 60 }), async (connections, modestFrom) => {
        const { drain, advance } = drainWithClock(burst, perSecond);
        const addresses = new Set(connections.map((c) => c.address)).size + 1;
        // The modest address reads less a look than its equal part of the rate, however many addresses share it.
        const modestReads = Math.floor((perSecond * LOOK_MS) / 1000 / addresses);
        const looks = 150;
        const readPerLook: number[] = [];
        const live: Array<{ socket: FakeSocket; reads: number; until: number }> = [];
        let modest: FakeSocket | undefined;
        let modestStarted = false;
        let modestPausedAfterStart = false;
        // What each address's connections may read in one look at most, together: what it may read past its
        // allowance before the next look (and then owe), whatever the others do.
        let slack = 0;
        for (let address = 0; address <= 4; address++) {
          let most = 0;
          for (let look = 0; look < looks; look++) {
            const reads = connections.filter((c) => c.address === address && c.from <= look && look <= c.from + c.lasts).reduce((sum, c) => sum + c.readsPerLook, 0);
            most = Math.max(most, reads);
          }
          slack += most;
        }
        for (let look = 0; look < looks; look++) {
          advance(LOOK_MS);
          for (const c of connections) {
            if (c.from !== look) continue;
            live.push({ socket: linger(drain, `10.0.0.${c.address}`), reads: c.readsPerLook, until: look + c.lasts });
          }
          if (look === modestFrom) modest = linger(drain, '192.0.2.1');
          if (look === modestFrom || connections.some((c) => c.from === look)) await afterDump();
          let read = 0;
          for (const entry of live) {
            if (entry.socket.destroyed || entry.socket.isPausedNow) continue;
            entry.socket.bytesRead += entry.reads;
            read += entry.reads;
          }
          if (modest && !modest.isPausedNow) {
            modestStarted = true;
            modest.bytesRead += modestReads;
            read += modestReads;
          } else if (modest && modestStarted) modestPausedAfterStart = true;
          readPerLook.push(read);
          for (const entry of live) if (entry.until === look) entry.socket.close();
          drain.tick();
        }
        for (const entry of live) entry.socket.close();
        modest?.close();
        // Over every window: the burst, the rate for its length, and one look of each address's reading. The most any
        // window read past the rate:
        // the largest rise of the running sum of (read - rate) over a look.
        const ratePerLook = (LOOK_MS * perSecond) / 1000;
        let sum = 0;
        let lowest = 0;
        let most = 0;
        for (const read of readPerLook) {
          sum += read - ratePerLook;
          most = Math.max(most, sum - lowest);
          lowest = Math.min(lowest, sum);
        }
        expect(most).toBeLessThanOrEqual(burst + slack + modestReads + 1);
        // Once it has read (at once when it came first; else once what addresses gone owe is paid back), never paused.
        expect(modestPausedAfterStart).toBe(false);
        if (modestFrom === 0) expect(modestStarted).toBe(true);
        for (let look = 0; look < 400 && drain.addressCount > 0; look++) {
          advance(LOOK_MS);
          drain.tick();
        }
        expect(drain.addressCount).toBe(0);
      }),
      {
        numRuns: 100,
        // Found by CI: the modest address joined between two looks with a scrap of what another gave back, read past
        // it and was paused a look after it started.
        examples: [
          [
            [
              { address: 0, from: 60, lasts: 1, readsPerLook: 0 },
              { address: 1, from: 58, lasts: 2, readsPerLook: 367002 },
            ],
            60,
          ],
        ],
      },
    );
  });
});
