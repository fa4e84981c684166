import { describe, expect, it } from '@jest/globals';
import { ModelChange } from '../model-change.js';
import fc from 'fast-check';
import { ChangeSequencer, STALE_WINDOW } from './change-sequencer.js';

const change = (pk: number) => new ModelChange('shop.product', 'updated', pk);

describe('ChangeSequencer', () => {
  it('stamps with its publisher id and 1, 2, 3, ...', () => {
    const sequencer = new ChangeSequencer();
    expect([1, 2, 3].map((pk) => sequencer.stamp(change(pk)).origin)).toEqual([
      { publisher: sequencer.publisherId, seq: 1 },
      { publisher: sequencer.publisherId, seq: 2 },
      { publisher: sequencer.publisherId, seq: 3 },
    ]);
    expect(new ChangeSequencer().publisherId).not.toBe(sequencer.publisherId);
  });

  it('keeps an existing stamp with stampIfMissing', () => {
    const stamped = change(1).withOrigin({ publisher: 'other', seq: 9 });
    expect(new ChangeSequencer().stampIfMissing(stamped)).toBe(stamped);
  });

  it('accepts each stamp once and never an older one from the same publisher', () => {
    const sender = new ChangeSequencer();
    const receiver = new ChangeSequencer();
    const [one, two, three] = [1, 2, 3].map((pk) => sender.stamp(change(pk)));
    expect(receiver.accept(one)).toBe(true);
    expect(receiver.accept(one)).toBe(false); // duplicate
    expect(receiver.accept(three)).toBe(true); // a gap is accepted (two was lost)
    expect(receiver.accept(two)).toBe(false); // late: would break the order
    const other = new ChangeSequencer().stamp(change(1));
    expect(receiver.accept(other)).toBe(true); // publishers are independent
  });

  it('is not silenced by a forged stamp far ahead: the next real change of that publisher is still accepted', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: STALE_WINDOW, max: Number.MAX_SAFE_INTEGER }), (seen, ahead) => {
        const sender = new ChangeSequencer();
        const receiver = new ChangeSequencer();
        let real = change(0);
        for (let i = 0; i < seen; i += 1) expect(receiver.accept((real = sender.stamp(change(i))))).toBe(true);
        const forgedSeq = Math.min(Number.MAX_SAFE_INTEGER, real.origin!.seq + ahead);
        receiver.accept(change(-1).withOrigin({ publisher: sender.publisherId, seq: forgedSeq }));
        const next = sender.stamp(change(seen));
        expect(receiver.accept(next)).toBe(forgedSeq - next.origin!.seq >= STALE_WINDOW);
        // Whatever the forged one did, duplicates of the real ones are still dropped once the count restarted.
        expect(receiver.accept(next)).toBe(false);
      }),
    );
  });

  it('still drops a change shortly behind the last one (a late arrival), within the window', () => {
    const receiver = new ChangeSequencer();
    const at = (seq: number) => change(seq).withOrigin({ publisher: 'p', seq });
    expect(receiver.accept(at(500))).toBe(true);
    expect(receiver.accept(at(500 - STALE_WINDOW + 1))).toBe(false);
    expect(receiver.accept(at(500 - STALE_WINDOW))).toBe(true);
    expect(receiver.accept(at(500 - STALE_WINDOW + 1))).toBe(true);
    expect(receiver.accept(at(500))).toBe(true);
    expect(receiver.accept(at(500))).toBe(false);
  });

  it('accepts unstamped changes (nothing to check them against)', () => {
    const receiver = new ChangeSequencer();
    expect(receiver.accept(change(1))).toBe(true);
    expect(receiver.accept(change(1))).toBe(true);
  });

  it('forgets the least recently heard publisher beyond its bound', () => {
    const receiver = new ChangeSequencer(2);
    const a = change(1).withOrigin({ publisher: 'a', seq: 5 });
    receiver.accept(a);
    receiver.accept(change(1).withOrigin({ publisher: 'b', seq: 1 }));
    receiver.accept(change(1).withOrigin({ publisher: 'c', seq: 1 }));
    // 'a' was forgotten, so its old stamp is accepted again; 'c' is still remembered.
    expect(receiver.accept(a)).toBe(true);
    expect(receiver.accept(change(1).withOrigin({ publisher: 'c', seq: 1 }))).toBe(false);
  });
});
