import { describe, expect, it } from '@jest/globals';
import { LiveFanoutScheduler, type LiveFanoutTask } from './live-fanout.scheduler.js';

function until(predicate: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (predicate() ? resolve() : setImmediate(check));
    check();
  });
}

describe('LiveFanoutScheduler', () => {
  it('runs every scheduled task once, in the order they were scheduled, after the scheduling code has returned', async () => {
    const scheduler = new LiveFanoutScheduler();
    const ran: number[] = [];
    for (let i = 0; i < 100; i++) scheduler.schedule({ runNext: () => ran.push(i) });
    expect(ran).toEqual([]);
    await until(() => ran.length === 100);
    expect(ran).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(scheduler.waiting).toBe(0);
  });

  it('lets the event loop turn between slices of a long fan-out, so other clients’ work runs in the middle of it', async () => {
    const scheduler = new LiveFanoutScheduler(0); // every slice ends at the first look at the clock
    let ran = 0;
    let ranWhenOtherWorkRan = -1;
    for (let i = 0; i < 1000; i++) scheduler.schedule({ runNext: () => void ran++ });
    setImmediate(() => (ranWhenOtherWorkRan = ran));
    await until(() => ran === 1000);
    expect(ranWhenOtherWorkRan).toBeGreaterThan(0);
    expect(ranWhenOtherWorkRan).toBeLessThan(1000);
  });

  it('runs tasks scheduled while it drains, including a task that schedules itself again', async () => {
    const scheduler = new LiveFanoutScheduler(0);
    const ran: string[] = [];
    let left = 3;
    const again: LiveFanoutTask = {
      runNext: () => {
        ran.push(`again ${left}`);
        if (--left > 0) scheduler.schedule(again);
      },
    };
    scheduler.schedule(again);
    scheduler.schedule({ runNext: () => ran.push('other') });
    await until(() => ran.length === 4);
    expect(ran).toEqual(['again 3', 'other', 'again 2', 'again 1']);
  });
});
