import { describe, expect, it } from '@jest/globals';
import { ExpressAdapter } from '@nestjs/platform-express';
import { drainBeforeClose } from './drain-before-close.js';

describe('drainBeforeClose', () => {
  it("runs the drain after the adapter's own beforeClose (which still runs, on the adapter), and chains", async () => {
    const steps: string[] = [];
    const adapter = new ExpressAdapter();
    const own = adapter.beforeClose;
    adapter.beforeClose = function (this: ExpressAdapter): void {
      steps.push(this === adapter ? 'adapter' : 'adapter, wrong this');
      own.call(this);
    };
    drainBeforeClose(adapter, async () => void steps.push('first drain'));
    drainBeforeClose(adapter, async () => void steps.push('second drain'));
    await (adapter.beforeClose() as unknown as Promise<void>);
    expect(steps).toEqual(['adapter', 'first drain', 'second drain']);
  });

  it('works on an adapter without a beforeClose of its own', async () => {
    const adapter: { beforeClose?: () => unknown } = {};
    let drained = false;
    drainBeforeClose(adapter, async () => void (drained = true));
    await adapter.beforeClose?.();
    expect(drained).toBe(true);
  });
});
