import { describe, expect, it } from '@jest/globals';
import { LiveFramePool, MAX_SHARED_FRAMES } from './live-frame.pool.js';

const STATE = 'reflex___state____state.board_state';

describe('LiveFramePool', () => {
  it('gives subscribers whose delta holds the very same values one frame', () => {
    const pool = new LiveFramePool();
    const list = [{ id: 1 }];
    const first = pool.share({ [STATE]: { notes_rx_state_: list, count_rx_state_: 1 } });
    const second = pool.share({ [STATE]: { count_rx_state_: 1, notes_rx_state_: list } });
    expect(second).toBe(first);
    expect(first!.data).toEqual({ delta: { [STATE]: { notes_rx_state_: list, count_rx_state_: 1 } } });
    expect(pool.size).toBe(1);
  });

  it('never shares a frame between deltas that differ: another value, an equal but distinct object, another var or state', () => {
    const pool = new LiveFramePool();
    const list = [{ id: 1 }];
    const frames = [
      pool.share({ [STATE]: { notes_rx_state_: list } }),
      pool.share({ [STATE]: { notes_rx_state_: [{ id: 1 }] } }),
      pool.share({ [STATE]: { notes_rx_state_: list, count_rx_state_: 2 } }),
      pool.share({ [STATE]: { other_rx_state_: list } }),
      pool.share({ other_state: { notes_rx_state_: list } }),
      pool.share({ [STATE]: { notes_rx_state_: list }, other_state: { notes_rx_state_: list } }),
    ];
    expect(new Set(frames).size).toBe(frames.length);
    for (const frame of frames) expect(frame).toBeDefined();
  });

  it(`keeps at most ${MAX_SHARED_FRAMES} distinct frames per change, then lets further deltas go on their own`, () => {
    const pool = new LiveFramePool();
    for (let i = 0; i < MAX_SHARED_FRAMES; i++) expect(pool.share({ [STATE]: { n_rx_state_: i } })).toBeDefined();
    expect(pool.share({ [STATE]: { n_rx_state_: 'one more' } })).toBeUndefined();
    expect(pool.share({ [STATE]: { n_rx_state_: 0 } })?.data).toEqual({ delta: { [STATE]: { n_rx_state_: 0 } } });
  });
});
