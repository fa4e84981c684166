import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ROOT_STATE_NAME } from '../protocol/state-naming.js';
import type { SaveOptions, StateLease, StoredState } from '../state/store/state-store.js';
import { holdsFullTtl, NewStateLease, SHORT_LIVED_KEY } from './new-state.lease.js';

const TAB = `${ROOT_STATE_NAME}.tab_state`;

/** A store's lease that records what it was asked to save. */
function recordingLease(state: StoredState | null, withRenew = true): StateLease & { saves: Array<{ state: StoredState; options?: SaveOptions }>; renewals: number; releases: number } {
  const lease = {
    token: 'tok',
    state,
    stateSize: 123,
    lockTimeoutMs: 5_000,
    saves: [] as Array<{ state: StoredState; options?: SaveOptions }>,
    renewals: 0,
    releases: 0,
    save(saved: StoredState, options?: SaveOptions) {
      lease.saves.push({ state: saved, options });
    },
    release() {
      lease.releases++;
    },
    renew: withRenew ? () => void lease.renewals++ : undefined,
  };
  return lease;
}

/** One save the pipeline may make: of a tree only hydrated, or changed by a handler (marked short or not), flagged provisional or not. */
const aSave = fc.record({
  changed: fc.boolean(),
  markedAlready: fc.boolean(),
  flagged: fc.boolean(),
  clicks: fc.nat(),
  stateSize: fc.option(fc.nat(), { nil: undefined }),
});

function treeOf(save: { changed: boolean; markedAlready: boolean; clicks: number }): StoredState {
  const tree: StoredState = { [ROOT_STATE_NAME]: { is_hydrated: true } };
  if (save.changed) tree[TAB] = { clicks: save.clicks };
  if (save.changed && save.markedAlready) tree[SHORT_LIVED_KEY] = {};
  return tree;
}

/** `state` without the short-lived mark. */
function content(state: StoredState): StoredState {
  const copy = { ...state };
  delete copy[SHORT_LIVED_KEY];
  return copy;
}

describe('NewStateLease', () => {
  it('asks its address at most once, at the first save of a changed state, and saves it kept short or with the full TTL as told', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(aSave, { maxLength: 8 }), fc.boolean(), fc.boolean(), async (saves, admitted, answersLater) => {
        const inner = recordingLease(null);
        let asked = 0;
        const lease = new NewStateLease(inner, () => {
          asked++;
          return answersLater ? Promise.resolve(admitted) : admitted;
        });
        for (const save of saves) {
          const options: SaveOptions = { stateSize: save.stateSize };
          if (save.flagged) options.provisional = !save.changed;
          await lease.save(treeOf(save), options);
        }
        const needsAnswer = saves.some((save) => save.changed);
        expect(asked).toBe(needsAnswer ? 1 : 0);
        expect(inner.saves).toHaveLength(saves.length);
        saves.forEach((save, i) => {
          const given = treeOf(save);
          const { state, options } = inner.saves[i]!;
          // Whatever it decided, the store gets the pipeline's vars unchanged, and the size the pipeline measured.
          expect(content(state)).toEqual(content(given));
          expect(options?.stateSize).toBe(save.stateSize);
          if (!save.changed) {
            expect(state).toEqual(given);
            expect(options?.provisional === true).toBe(save.flagged);
          } else if (admitted) {
            expect(SHORT_LIVED_KEY in state).toBe(false);
            expect(options?.provisional).not.toBe(true);
          } else {
            expect(state[SHORT_LIVED_KEY]).toEqual({});
            expect(options?.provisional).toBe(true);
          }
        });
      }),
    );
  });

  it('asks for a new tab once, at the first save of a token with no state, and stores nothing when refused', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(aSave, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.boolean(), async (saves, refused, answersLater) => {
        const inner = recordingLease(null);
        let asked = 0;
        const refusal = new Error('too many new tabs');
        const lease = new NewStateLease(inner, () => true, () => {
          asked++;
          if (!refused) return answersLater ? Promise.resolve() : undefined;
          if (answersLater) return Promise.reject(refusal);
          throw refusal;
        });
        for (const save of saves) {
          const saving = (async () => lease.save(treeOf(save), save.flagged ? { provisional: !save.changed } : undefined))();
          if (refused) await expect(saving).rejects.toBe(refusal);
          else await saving;
        }
        expect(inner.saves).toHaveLength(refused ? 0 : saves.length);
        // Asked once per lease; a refusal thrown at once is asked again by the next save (the event stops at the first).
        expect(asked).toBe(refused && !answersLater ? saves.length : 1);
      }),
    );
    // A token with a state already is no new tab: never asked.
    let asked = 0;
    const known = new NewStateLease(recordingLease({ [ROOT_STATE_NAME]: {} }), () => true, () => void asked++);
    await known.save({ [ROOT_STATE_NAME]: {}, [TAB]: { clicks: 1 } });
    expect(asked).toBe(0);
  });

  it('passes the lease on as the store granted it: state, size, lock, renewal (only when the store renews) and release', async () => {
    const state = { [ROOT_STATE_NAME]: {} };
    const inner = recordingLease(state);
    const lease = new NewStateLease(inner, () => true);
    expect([lease.token, lease.state, lease.stateSize, lease.lockTimeoutMs]).toEqual(['tok', state, 123, 5_000]);
    await lease.renew!();
    await lease.release();
    expect([inner.renewals, inner.releases]).toEqual([1, 1]);
    expect(new NewStateLease(recordingLease(null, false), () => true).renew).toBeUndefined();
  });
});

describe('holdsFullTtl', () => {
  it('is true only for a state a handler changed that no budget kept short', () => {
    expect(holdsFullTtl(null)).toBe(false);
    expect(holdsFullTtl({})).toBe(false);
    expect(holdsFullTtl({ [ROOT_STATE_NAME]: { router: {} } })).toBe(false);
    expect(holdsFullTtl({ [ROOT_STATE_NAME]: {}, [TAB]: { clicks: 1 }, [SHORT_LIVED_KEY]: {} })).toBe(false);
    expect(holdsFullTtl({ [ROOT_STATE_NAME]: {}, [TAB]: { clicks: 1 } })).toBe(true);
    // A state saved before the budget existed (or by the app's own change) has the full TTL: it is not asked again.
    expect(holdsFullTtl({ [TAB]: { clicks: 1 }, 'rx:owner': { session: 'h' } })).toBe(true);
  });
});
