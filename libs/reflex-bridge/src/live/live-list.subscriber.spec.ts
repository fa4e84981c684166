import { describe, expect, it } from '@jest/globals';
import { LiveFanoutScheduler } from './live-fanout.scheduler.js';
import { LiveListSubscriber } from './live-list.subscriber.js';
import { ModelChange } from './model-change.js';

function until(predicate: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (predicate() ? resolve() : setImmediate(check));
    check();
  });
}

const change = (pk: number) => new ModelChange('test.row', 'created', pk);

/** A subscriber whose apply records the changes, finishing each at once or when `release()` is called. */
function recording(options: { bufferSize?: number; async?: boolean; failOn?: number; failWhile?: () => boolean } = {}) {
  const applied: number[] = [];
  const failures: number[] = [];
  const releases: Array<() => void> = [];
  let ended = 0;
  const subscriber = new LiveListSubscriber(
    'test.row',
    options.bufferSize ?? 100,
    new LiveFanoutScheduler(),
    (next) => {
      if (next.pk === options.failOn || options.failWhile?.()) throw new Error('cannot apply');
      if (!options.async) {
        applied.push(Number(next.pk));
        return undefined;
      }
      return new Promise<void>((resolve) =>
        releases.push(() => {
          applied.push(Number(next.pk));
          resolve();
        }),
      );
    },
    (failed) => void failures.push(Number(failed.pk)),
    () => void ended++,
  );
  return { subscriber, applied, failures, releases, ended: () => ended };
}

describe('LiveListSubscriber', () => {
  it('applies changes in the order they came, one at a time, even when applying waits', async () => {
    const { subscriber, applied, releases } = recording({ async: true });
    for (let pk = 1; pk <= 5; pk++) subscriber.deliver(change(pk));
    for (let round = 0; round < 5; round++) {
      await until(() => releases.length === round + 1);
      expect(subscriber.waiting).toBe(4 - round); // the others wait until this one is applied
      releases[round]();
    }
    await until(() => applied.length === 5);
    expect(applied).toEqual([1, 2, 3, 4, 5]);
  });

  it('drops the oldest waiting change when more than bufferSize wait, and counts it', async () => {
    const { subscriber, applied, releases } = recording({ async: true, bufferSize: 2 });
    subscriber.deliver(change(1));
    await until(() => releases.length === 1); // 1 is being applied
    for (let pk = 2; pk <= 5; pk++) subscriber.deliver(change(pk)); // 2 and 3 are dropped
    expect(subscriber.dropped).toBe(2);
    releases[0]();
    await until(() => releases.length === 2);
    releases[1]();
    await until(() => releases.length === 3);
    releases[2]();
    await until(() => applied.length === 3);
    expect(applied).toEqual([1, 4, 5]);
  });

  it('reports a change it could not apply and goes on with the next', async () => {
    const { subscriber, applied, failures } = recording({ failOn: 2 });
    for (let pk = 1; pk <= 3; pk++) subscriber.deliver(change(pk));
    await until(() => applied.length === 2);
    expect(applied).toEqual([1, 3]);
    expect(failures).toEqual([2]);
  });

  it.each([false, true])('reports only the first change of a run that fails, however long the run (apply waits: %s)', async (async) => {
    // A tab that subscribed before it hydrated: every change fails until it has a state.
    let hydrated = false;
    const { subscriber, applied, failures, releases } = recording({ async, failWhile: () => !hydrated });
    for (let pk = 1; pk <= 50; pk++) subscriber.deliver(change(pk));
    await until(() => subscriber.waiting === 0 && (!async || releases.length === 0));
    await new Promise((resolve) => setImmediate(resolve));
    expect(failures).toEqual([1]);
    hydrated = true;
    subscriber.deliver(change(51));
    if (async) {
      await until(() => releases.length === 1);
      releases[0]!();
    }
    await until(() => applied.length === 1);
    // Applying again starts a new run: its first failure is reported.
    hydrated = false;
    subscriber.deliver(change(52));
    subscriber.deliver(change(53));
    await until(() => failures.length === 2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(failures).toEqual([1, 52]);
    expect(applied).toEqual([51]);
  });

  it('stops at unsubscribe: waiting changes are dropped, later ones ignored, the owner told once', async () => {
    const { subscriber, applied, releases, ended } = recording({ async: true });
    subscriber.deliver(change(1));
    subscriber.deliver(change(2));
    await until(() => releases.length === 1);
    subscriber.unsubscribe();
    subscriber.unsubscribe();
    subscriber.deliver(change(3));
    releases[0]();
    await until(() => applied.length === 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(applied).toEqual([1]);
    expect(releases).toHaveLength(1);
    expect(subscriber.closed).toBe(true);
    expect(ended()).toBe(1);
  });
});
