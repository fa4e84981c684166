import { SharedMessage } from '../protocol/shared-message.js';
import type { Delta } from '../protocol/state-update.js';

/** Distinct deltas one change shares frames for; subscribers past that many distinct views get their own frames. */
export const MAX_SHARED_FRAMES = 8;

/** True when both deltas name the same states and vars with the very same values (`Object.is`). */
function sameDelta(a: Delta, b: Delta): boolean {
  let states = 0;
  for (const name in a) {
    const left = a[name];
    const right = b[name];
    if (right === undefined) return false;
    let vars = 0;
    for (const key in left) {
      if (!(key in right) || !Object.is(left[key], right[key])) return false;
      vars++;
    }
    for (const _ in right) vars--;
    if (vars !== 0) return false;
    states++;
  }
  for (const _ in b) states--;
  return states === 0;
}

/**
 * The frames of one live change: subscribers whose resulting delta is the same (the same vars holding the very
 * same values, as the shared list results of {@link LiveRowCache} make them) share one {@link SharedMessage},
 * so it is encoded once for all of them. Values are compared by identity, never walked: a delta whose values are
 * new objects per subscriber (a computed var building a fresh array) is simply not shared.
 */
export class LiveFramePool {
  private readonly frames: { delta: Delta; message: SharedMessage }[] = [];

  /**
   * The shared `event` message carrying `delta`: an earlier subscriber's when its delta was the same, else a new one
   * (while fewer than {@link MAX_SHARED_FRAMES} exist), else `undefined` (send `delta` on its own).
   */
  share(delta: Delta): SharedMessage | undefined {
    for (const frame of this.frames) if (sameDelta(frame.delta, delta)) return frame.message;
    if (this.frames.length >= MAX_SHARED_FRAMES) return undefined;
    const message = new SharedMessage('event', { delta });
    this.frames.push({ delta, message });
    return message;
  }

  /** Distinct frames made so far (for tests). */
  get size(): number {
    return this.frames.length;
  }
}
