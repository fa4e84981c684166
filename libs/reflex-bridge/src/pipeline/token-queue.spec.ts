import { describe, expect, it } from '@jest/globals';
import { SYNC_BURST, TokenQueue } from './token-queue.js';

const tick = (ms = 5) => new Promise((resolve) => setTimeout(resolve, ms));
const turn = () => new Promise((resolve) => setImmediate(resolve));
/** Waits for a condition, a turn at a time. */
const until = async (condition: () => boolean) => {
  while (!condition()) await turn();
};

/** A task that finishes in microtasks only (an async handler answered from memory), recording its index. */
const microtaskTask = (ran: number[], index: number) => async () => {
  await Promise.resolve();
  await Promise.resolve();
  ran.push(index);
};

describe('TokenQueue', () => {
  it('runs a task for an idle token at once, and a synchronous one leaves nothing queued', () => {
    const queue = new TokenQueue();
    const ran: string[] = [];
    expect(queue.run('a', () => void ran.push('first'))).toBeUndefined();
    expect(ran).toEqual(['first']);
    expect(queue.has('a')).toBe(false);
  });

  it('queues tasks behind one that went asynchronous, in arrival order, per token', async () => {
    const queue = new TokenQueue();
    const ran: string[] = [];
    const slow = queue.run('a', async () => {
      await tick(20);
      ran.push('slow a');
    });
    expect(queue.has('a')).toBe(true);
    const behind = queue.run('a', () => void ran.push('sync a'));
    expect(queue.run('b', () => void ran.push('sync b'))).toBeUndefined();
    expect(ran).toEqual(['sync b']);
    await Promise.all([slow, behind]);
    expect(ran).toEqual(['sync b', 'slow a', 'sync a']);
    await tick();
    expect(queue.has('a')).toBe(false);
  });

  it('a task that queues work and then goes asynchronous runs before that work, and later tasks wait for both', async () => {
    // The event pipeline's implicit rehydrate queues a page's on-load handlers while the event runs, then the event's
    // handler goes asynchronous: the queue split in two, the follow-up ran beside the event, and later events
    // overtook the rest (a user's last input overwritten by an earlier one).
    const queue = new TokenQueue();
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const task = (name: string, work: () => unknown) => async () => {
      most = Math.max(most, ++running);
      log.push(`start ${name}`);
      await work();
      log.push(`end ${name}`);
      running--;
    };
    const first = queue.run(
      'a',
      task('event', async () => {
        void queue.enqueue('a', task('follow-up', () => tick(5)));
        await tick(20);
      }),
    );
    const later = queue.run('a', task('later', () => tick(1)));
    await Promise.all([first, later]);
    await until(() => !queue.has('a'));
    expect(log).toEqual(['start event', 'end event', 'start follow-up', 'end follow-up', 'start later', 'end later']);
    expect(most).toBe(1);
  });

  it('whenIdle resolves once the token has nothing queued or running, at once when it has nothing', async () => {
    const queue = new TokenQueue();
    let idle = false;
    await queue.whenIdle('a');
    const ran: string[] = [];
    void queue.run('a', async () => {
      await tick(10);
      ran.push('first');
    });
    void queue.run('a', () => void ran.push('second'));
    const waited = queue.whenIdle('a').then(() => (idle = true));
    await tick(1);
    expect(idle).toBe(false);
    await waited;
    expect(ran).toEqual(['first', 'second']);
    expect(queue.has('a')).toBe(false);
  });

  it('whenAllIdle resolves once no token has work, including work that started while it waited', async () => {
    const queue = new TokenQueue();
    await queue.whenAllIdle();
    const ran: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    void queue.run('a', async () => {
      await held;
      ran.push('a');
      // Work a running task starts for another token (a follow-up, a modify) is waited for too.
      void queue.run('b', async () => {
        await tick(1);
        ran.push('b');
      });
    });
    let idle = false;
    const waited = queue.whenAllIdle().then(() => (idle = true));
    await turn();
    expect(idle).toBe(false);
    release();
    await waited;
    expect(ran).toEqual(['a', 'b']);
    expect(queue.size).toBe(0);
  });

  it('keeps going after a failing task, thrown or rejected', async () => {
    const queue = new TokenQueue();
    const ran: string[] = [];
    expect(() => queue.run('a', () => { throw new Error('sync failure'); })).not.toThrow();
    const failed = queue.run('a', async () => {
      await tick();
      throw new Error('async failure');
    });
    const thrownBehind = queue.run('a', () => { throw new Error('queued sync failure'); });
    const next = queue.run('a', () => void ran.push('after'));
    await expect(failed).resolves.toBeUndefined();
    await expect(thrownBehind).resolves.toBeUndefined();
    await next;
    expect(ran).toEqual(['after']);
  });

  it('enqueue never runs a task inside its caller, even for an idle token', async () => {
    const queue = new TokenQueue();
    const ran: string[] = [];
    const later = queue.enqueue('a', () => void ran.push('follow-up'));
    ran.push('caller done');
    await later;
    expect(ran).toEqual(['caller done', 'follow-up']);
  });

  it('keeps each token\'s order through a long backlog of asynchronous tasks', async () => {
    const queue = new TokenQueue();
    const ran: Record<string, number[]> = { a: [], b: [] };
    const all: Array<Promise<void> | void> = [];
    for (let i = 0; i < 500; i++) {
      for (const token of ['a', 'b']) {
        all.push(queue.run(token, i % 3 === 0 ? microtaskTask(ran[token], i) : () => void ran[token].push(i), 0));
      }
    }
    await Promise.all(all);
    const expected = Array.from({ length: 500 }, (_, i) => i);
    expect(ran.a).toEqual(expected);
    expect(ran.b).toEqual(expected);
    expect(queue.size).toBe(0);
  });

  it('lets the event loop turn while a token works through a backlog of microtask-only tasks', async () => {
    const queue = new TokenQueue();
    const ran: number[] = [];
    const flood = 2000;
    let last: Promise<void> | void = undefined;
    for (let i = 0; i < flood; i++) last = queue.run('flooder', microtaskTask(ran, i), 0);
    // Scheduled after the whole flood was queued: without yielding it would run only once the flood ended.
    let doneWhenOtherRan = -1;
    setImmediate(() => {
      doneWhenOtherRan = ran.length;
    });
    await last;
    expect(ran).toHaveLength(flood);
    expect(doneWhenOtherRan).toBeGreaterThanOrEqual(0);
    expect(doneWhenOtherRan).toBeLessThan(flood / 2);
  });

  it('runs another token\'s event at once, synchronously, while one token has a backlog', async () => {
    const queue = new TokenQueue();
    const ran: number[] = [];
    let last: Promise<void> | void = undefined;
    for (let i = 0; i < 1000; i++) last = queue.run('flooder', microtaskTask(ran, i), 0);
    await turn();
    let victim = false;
    expect(queue.run('victim', () => void (victim = true), 0)).toBeUndefined();
    expect(victim).toBe(true);
    expect(ran.length).toBeLessThan(1000);
    await last;
  });

  it('runs at most SYNC_BURST synchronous events of one token in one turn; the rest follow, in order, after a turn', async () => {
    const queue = new TokenQueue();
    const ran: number[] = [];
    const results: Array<Promise<void> | void> = [];
    for (let i = 0; i < SYNC_BURST * 3; i++) results.push(queue.run('flooder', () => void ran.push(i), 0));
    // The first burst ran inside the calls, without a promise; the rest waits in the queue.
    expect(ran).toEqual(Array.from({ length: SYNC_BURST }, (_, i) => i));
    expect(results.slice(0, SYNC_BURST).every((result) => result === undefined)).toBe(true);
    expect(queue.queuedEvents('flooder')).toBe(SYNC_BURST * 2);
    // Another token still runs at once.
    expect(queue.run('other', () => undefined, 0)).toBeUndefined();
    await Promise.all(results);
    expect(ran).toEqual(Array.from({ length: SYNC_BURST * 3 }, (_, i) => i));
    // Once the turn has passed, the token is idle again and runs synchronously.
    await turn();
    let again = false;
    expect(queue.run('flooder', () => void (again = true), 0)).toBeUndefined();
    expect(again).toBe(true);
  });

  it('startsNow, track and runLater keep run\'s order and burst when the caller runs the task itself', async () => {
    const queue = new TokenQueue();
    const ran: string[] = [];
    // As the pipeline does: start when allowed, hand a promise to track, else queue.
    const submit = (token: string, task: () => void | Promise<void>) => {
      if (!queue.startsNow(token)) return queue.runLater(token, task);
      const pending = task();
      return pending instanceof Promise ? queue.track(token, pending) : undefined;
    };
    const slow = submit('a', async () => {
      await tick(10);
      ran.push('slow');
    });
    expect(queue.has('a')).toBe(true);
    const behind = submit('a', () => void ran.push('behind'));
    expect(ran).toEqual([]);
    await Promise.all([slow, behind]);
    expect(ran).toEqual(['slow', 'behind']);
    // An idle token's synchronous burst counts the tasks started this way too.
    ran.length = 0;
    const later: Array<Promise<void> | undefined> = [];
    for (let index = 0; index < SYNC_BURST + 3; index++) later.push(submit('b', () => void ran.push(`${index}`)));
    expect(ran).toHaveLength(SYNC_BURST);
    await Promise.all(later);
    expect(ran).toEqual(Array.from({ length: SYNC_BURST + 3 }, (_, index) => `${index}`));
  });

  it('an ordinary client (one event per turn) always runs synchronously', async () => {
    const queue = new TokenQueue();
    for (let i = 0; i < SYNC_BURST * 4; i++) {
      let ran = false;
      expect(queue.run('a', () => void (ran = true), 0)).toBeUndefined();
      expect(ran).toBe(true);
      await turn();
    }
  });

  it('refuses client events over the count limit while the queue is full, and takes them again once it drained', async () => {
    const queue = new TokenQueue({ maxQueuedEvents: 3, maxQueuedBytes: 1_000_000 });
    let release!: () => void;
    const running = queue.run('a', () => new Promise<void>((resolve) => (release = resolve)), 10);
    expect(queue.accepts('a', 10)).toBe(true);
    const queued = [1, 2, 3].map((i) => queue.run('a', () => undefined, i));
    expect(queue.queuedEvents('a')).toBe(3);
    expect(queue.isFull('a')).toBe(true);
    expect(queue.stopsReading('a')).toBe(true);
    expect(queue.stopsReading('b')).toBe(false);
    expect(queue.accepts('a', 1)).toBe(false);
    // Other tokens and internal work are not limited by it.
    expect(queue.accepts('b', 1)).toBe(true);
    void queue.enqueue('a', () => undefined);
    expect(queue.queuedEvents('a')).toBe(3);
    let drained = false;
    queue.onDrained('a', () => (drained = true));
    expect(drained).toBe(false);
    release();
    await running;
    await Promise.all(queued);
    expect(drained).toBe(true);
    expect(queue.isFull('a')).toBe(false);
    expect(queue.stopsReading('a')).toBe(false);
    expect(queue.accepts('a', 1)).toBe(true);
  });

  it('refuses a client event that would take the queued bytes over the limit, but an empty queue takes any one', async () => {
    const queue = new TokenQueue({ maxQueuedEvents: 100, maxQueuedBytes: 1000 });
    let release!: () => void;
    const running = queue.run('a', () => new Promise<void>((resolve) => (release = resolve)), 5000);
    expect(queue.accepts('a', 5000)).toBe(true); // nothing waits yet: one event of any size
    const big = queue.run('a', () => undefined, 5000);
    expect(queue.isFull('a')).toBe(true);
    expect(queue.stopsReading('a')).toBe(true);
    expect(queue.accepts('a', 1)).toBe(false);
    release();
    await Promise.all([running, big]);
    expect(queue.has('a')).toBe(false);

    const second = new TokenQueue({ maxQueuedEvents: 100, maxQueuedBytes: 1000 });
    const slow = second.run('a', async () => void (await tick()), 1);
    const first = second.run('a', () => undefined, 600);
    expect(second.accepts('a', 400)).toBe(true);
    expect(second.accepts('a', 401)).toBe(false);
    await Promise.all([slow, first]);
  });

  it("refuses a client event that would take the worker's queues together over maxTotalQueuedBytes, whatever its token's queue holds", async () => {
    // One client with a token per connection queued one event of any size behind each: no total bounded them.
    const queue = new TokenQueue({ maxQueuedEvents: 100, maxQueuedBytes: 1000, maxTotalQueuedBytes: 2500 });
    const releases: Array<() => void> = [];
    const queued: Array<Promise<void>> = [];
    for (const token of ['a', 'b', 'c']) {
      queued.push(queue.run(token, () => new Promise<void>((resolve) => releases.push(resolve)), 1) as Promise<void>);
      expect(queue.accepts(token, 1000)).toBe(token !== 'c');
      if (token !== 'c') queued.push(queue.run(token, () => undefined, 1000) as Promise<void>);
    }
    expect(queue.queuedBytes).toBe(2000);
    // Within the total: taken; held outside the queues too.
    expect(queue.accepts('c', 500)).toBe(true);
    expect(queue.reserve(500)).toBe(true);
    expect(queue.reserve(1)).toBe(false);
    expect(queue.accepts('c', 1)).toBe(false);
    queue.release(500);
    for (const release of releases) release();
    await Promise.all(queued);
    expect(queue.queuedBytes).toBe(0);
    expect(queue.accepts('c', 1000)).toBe(true);
  });

  it('marks a queue refused for the worker\'s total until its next event starts, or it empties', async () => {
    const queue = new TokenQueue({ maxQueuedEvents: 100, maxQueuedBytes: 1_000_000, maxTotalQueuedBytes: 10 });
    const gates: Array<() => void> = [];
    const held = () => new Promise<void>((resolve) => gates.push(resolve));
    const all = [queue.run('a', held, 1), queue.run('a', held, 10)];
    expect(queue.accepts('a', 1)).toBe(false);
    expect(queue.stopsReading('a')).toBe(false);
    queue.refusedForTotal('a');
    // Its queue is not full, yet the gateway stops reading its socket (it asks this one question after each read).
    expect(queue.isFull('a')).toBe(false);
    expect(queue.stopsReading('a')).toBe(true);
    let drained = 0;
    queue.onDrained('a', () => drained++);
    expect(drained).toBe(0);
    // The running event ends and the queued one starts: the client's events moved on.
    gates.shift()!();
    await until(() => gates.length === 1);
    expect(drained).toBe(1);
    expect(queue.stopsReading('a')).toBe(false);
    // Refused again with nothing queued behind the running event: until the queue empties.
    queue.refusedForTotal('a');
    queue.onDrained('a', () => drained++);
    gates.shift()!();
    await Promise.all(all);
    expect(drained).toBe(2);
    expect(queue.stopsReading('a')).toBe(false);
    // A token with nothing queued is never marked.
    queue.refusedForTotal('b');
    expect(queue.stopsReading('b')).toBe(false);
  });

  it('tells the first refusal since the queue was last below half its limits from the ones after it', async () => {
    const queue = new TokenQueue({ maxQueuedEvents: 4, maxQueuedBytes: 1_000_000 });
    const gates: Array<() => void> = [];
    const held = () => new Promise<void>((resolve) => gates.push(resolve));
    /** Lets the running task finish, and waits until the next one started (or none is left). */
    const finishOne = async () => {
      gates.shift()!();
      while (gates.length === 0 && queue.has('a')) await turn();
    };
    const all = [queue.run('a', held, 1), ...[1, 2, 3, 4].map(() => queue.run('a', held, 1))];
    expect(queue.accepts('a', 1)).toBe(false);
    expect(queue.refused('a')).toBe(true);
    expect(queue.refused('a')).toBe(false);
    expect(queue.refused('a')).toBe(false);
    // Three still wait: more than half, so the same episode.
    await finishOne();
    expect(queue.queuedEvents('a')).toBe(3);
    expect(queue.refused('a')).toBe(false);
    // Down to half: the next time the queue fills, its first refusal is a first again.
    await finishOne();
    expect(queue.queuedEvents('a')).toBe(2);
    all.push(queue.run('a', held, 1), queue.run('a', held, 1));
    expect(queue.accepts('a', 1)).toBe(false);
    expect(queue.refused('a')).toBe(true);
    expect(queue.refused('a')).toBe(false);
    // Another token keeps its own.
    expect(queue.refused('b')).toBe(true);
    while (gates.length > 0) await finishOne();
    await Promise.all(all);
    expect(queue.has('a')).toBe(false);
  });

  it('calls a drained callback at once when the queue is not full', () => {
    const queue = new TokenQueue({ maxQueuedEvents: 2, maxQueuedBytes: 100 });
    let called = 0;
    queue.onDrained('idle', () => called++);
    expect(called).toBe(1);
  });
});
