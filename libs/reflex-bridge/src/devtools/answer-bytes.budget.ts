import type { ServerResponse } from 'node:http';

/**
 * Bytes of devtools state answers one worker holds for clients that have not read them, all requests together. A
 * state answer is a token's whole state as JSON (up to `maxStateBytes`, 2 MB by default, and more as text); made at
 * once for every request, a client asking from many connections and reading none held one per request.
 */
export const MAX_STATE_ANSWER_BYTES = 16 * 1024 * 1024;

/**
 * What the worker's answers in flight hold, bounded as a whole: an answer is counted from when it is taken until its
 * response closes (it was handed to the kernel whole, or its client went away). One answer is always taken when no
 * other is held, whatever its size, so a state larger than the bound can still be looked at.
 */
export class AnswerBytesBudget {
  private held = 0;

  constructor(readonly limitBytes: number) {}

  /** Counts `bytes` for `res` until it closes and returns true; false, counting nothing, when they do not fit. */
  take(res: ServerResponse, bytes: number): boolean {
    // Closed already (its client left while the answer was made): it holds nothing, and no 'close' would come.
    if (res.closed || res.destroyed) return true;
    if (this.held > 0 && this.held + bytes > this.limitBytes) return false;
    this.held += bytes;
    res.once('close', () => (this.held -= bytes));
    return true;
  }

  /** Bytes counted now. */
  get heldBytes(): number {
    return this.held;
  }
}
