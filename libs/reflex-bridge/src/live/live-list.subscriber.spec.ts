import { describe, expect, it } from '@jest/globals';
import { LiveFanoutScheduler } from './live-fanout.scheduler.js';
import { type BatchOutcome, LiveListSubscriber, MAX_BATCH } from './live-list.subscriber.js';
import { ModelChange } from './model-change.js';

function until(predicate: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (predicate() ? resolve() : setImmediate(check));
    check();
  });
}

/** Releases each apply as it starts, until none has started for a few turns of the event loop. */
async function drain(releases: Array<() => void>): Promise<void> {
  let released = 0;
  for (let idle = 0; idle < 10; idle++) {
    await new Promise((resolve) => setImmediate(resolve));
    if (releases.length > released) {
      releases[released++]!();
      idle = 0;
    }
  }
}

const change = (pk: number) => new ModelChange('test.row', 'created', pk);

/** A subscriber whose apply records the changes, finishing each at once or when `release()` is called. */
function recording(options: { bufferSize?: number; async?: boolean; failOn?: number; failWhile?: () => boolean } = {}) {
  /** The primary keys applied, `'refetch'` for a refetch. */
  const applied: Array<number | string> = [];
  const failures: number[] = [];
  const releases: Array<() => void> = [];
  /** The size of each batch applied. */
  const batches: number[] = [];
  let ended = 0;
  const subscriber = new LiveListSubscriber(
    'test.row',
    options.bufferSize ?? 100,
    new LiveFanoutScheduler(),
    (batch) => {
      // A state that cannot be changed at all (no state yet): the whole batch fails.
      if (options.failWhile?.()) throw new Error('cannot apply');
      batches.push(batch.length);
      const applyAll = (): BatchOutcome => {
        const outcome = batch.map((next) => {
          if (next.pk === options.failOn) return { error: new Error('cannot apply') };
          applied.push(next.isRefetch ? 'refetch' : Number(next.pk));
          return undefined;
        });
        return outcome.some((failure) => failure !== undefined) ? outcome : undefined;
      };
      if (!options.async) return applyAll();
      return new Promise<BatchOutcome>((resolve) => releases.push(() => resolve(applyAll())));
    },
    (failed) => void failures.push(Number(failed.pk)),
    () => void ended++,
  );
  return { subscriber, applied, failures, releases, batches, ended: () => ended };
}

describe('LiveListSubscriber', () => {
  it('applies changes in the order they came, those that waited together, even when applying waits', async () => {
    const { subscriber, applied, releases, batches } = recording({ async: true });
    subscriber.deliver(change(1));
    await until(() => releases.length === 1);
    for (let pk = 2; pk <= 5; pk++) subscriber.deliver(change(pk));
    expect(subscriber.waiting).toBe(4); // they wait until 1 is applied
    releases[0]!();
    await until(() => releases.length === 2);
    expect(subscriber.waiting).toBe(0);
    releases[1]!();
    await until(() => applied.length === 5);
    expect(applied).toEqual([1, 2, 3, 4, 5]);
    expect(batches).toEqual([1, 4]);
  });

  it('applies a burst in batches of at most MAX_BATCH changes: one state change (one frame) each, not one per change', async () => {
    const { subscriber, applied, batches } = recording({ bufferSize: 1000 });
    // A 500-row insert arriving at once.
    for (let pk = 1; pk <= 500; pk++) subscriber.deliver(change(pk));
    await until(() => applied.length === 500);
    expect(applied).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    // Before: 500 batches of one.
    expect(batches).toHaveLength(Math.ceil(500 / MAX_BATCH));
    expect(Math.max(...batches)).toBe(MAX_BATCH);
  });

  it('drops the oldest waiting change when more than bufferSize wait, counts it, and re-reads the list after the others', async () => {
    const { subscriber, applied, releases } = recording({ async: true, bufferSize: 2 });
    subscriber.deliver(change(1));
    await until(() => releases.length === 1); // 1 is being applied
    for (let pk = 2; pk <= 6; pk++) subscriber.deliver(change(pk)); // 2, 3 and 4 are dropped
    expect(subscriber.dropped).toBe(3);
    // Before: [1, 5, 6], and the list missed what 2, 3 and 4 changed until the page loaded it again. One refetch,
    // queued when 2 was dropped, stands in for all three: it re-reads the list when applied, after all of them.
    await drain(releases);
    expect(applied).toEqual([1, 'refetch', 5, 6]);
  });

  it('keeps at most bufferSize + 1 changes waiting (the stand-in refetch) however many are dropped', async () => {
    const { subscriber, applied, releases } = recording({ async: true, bufferSize: 2 });
    subscriber.deliver(change(1));
    await until(() => releases.length === 1); // 1 is being applied
    let most = 0;
    for (let pk = 2; pk <= 1000; pk++) {
      subscriber.deliver(change(pk));
      most = Math.max(most, subscriber.waiting);
    }
    expect(most).toBe(3);
    await drain(releases);
    // The refetch covers every change dropped, wherever it waits: it re-reads the list when applied, after them.
    expect(applied).toEqual([1, 'refetch', 999, 1000]);
  });

  it('keeps one refetch waiting: a newer one replaces it, behind the changes that came in between', async () => {
    const { subscriber, applied, releases } = recording({ async: true });
    subscriber.deliver(change(1));
    await until(() => releases.length === 1); // 1 is being applied
    subscriber.deliver(ModelChange.refetch('test.row'));
    subscriber.deliver(change(2));
    for (let i = 0; i < 50; i++) subscriber.deliver(ModelChange.refetch('test.row'));
    expect(subscriber.waiting).toBe(2);
    await drain(releases);
    expect(applied).toEqual([1, 2, 'refetch']);
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
    await until(() => releases.length === 1);
    subscriber.deliver(change(2));
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
