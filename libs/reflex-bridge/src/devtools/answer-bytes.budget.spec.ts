import { describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import fc from 'fast-check';
import { AnswerBytesBudget } from './answer-bytes.budget.js';

/** A response as the budget sees it: closes when told. */
function response(): ServerResponse & { close(): void } {
  const res = new EventEmitter() as unknown as ServerResponse & { close(): void };
  res.close = () => void res.emit('close');
  return res;
}

describe('AnswerBytesBudget', () => {
  it('takes one answer of any size when it holds none, and refuses what would take it past its limit', () => {
    const budget = new AnswerBytesBudget(100);
    const big = response();
    expect(budget.take(big, 500)).toBe(true);
    expect(budget.take(response(), 1)).toBe(false);
    big.close();
    expect(budget.heldBytes).toBe(0);
    expect(budget.take(response(), 60)).toBe(true);
    expect(budget.take(response(), 40)).toBe(true);
    expect(budget.take(response(), 1)).toBe(false);
  });

  it('never holds more than its limit but for a single answer, and nothing once every answer closed', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(300), fc.boolean()), { maxLength: 40 }), (steps) => {
        const budget = new AnswerBytesBudget(200);
        const open: Array<{ res: ReturnType<typeof response>; bytes: number }> = [];
        for (const [bytes, closeOne] of steps) {
          const res = response();
          if (budget.take(res, bytes)) open.push({ res, bytes });
          if (closeOne && open.length > 0) open.shift()!.res.close();
          // Over the limit only by one answer taken when nothing was held (an empty answer holds nothing).
          expect(open.filter((item) => item.bytes > 0).length <= 1 || budget.heldBytes <= 200).toBe(true);
          expect(budget.heldBytes).toBe(open.reduce((sum, item) => sum + item.bytes, 0));
        }
        for (const item of open) item.res.close();
        expect(budget.heldBytes).toBe(0);
      }),
    );
  });
});
