import { describe, expect, it } from '@jest/globals';
import { DEADLINE_PASSED } from './deadline.js';
import { StallCircuit } from './stall-circuit.js';

describe('StallCircuit', () => {
  it('stays closed while commands answer or fail in time', async () => {
    const circuit = new StallCircuit();
    await expect(circuit.within(Promise.resolve(1), 1_000)).resolves.toBe(1);
    await expect(circuit.within(Promise.reject(new Error('refused')), 1_000)).rejects.toThrow('refused');
    expect(circuit.isOpen).toBe(false);
  });

  it('opens when a command outlives its deadline and closes when that command settles, answered or failed', async () => {
    const circuit = new StallCircuit();
    for (const settle of ['answer', 'fail'] as const) {
      let finish!: () => void;
      const unanswered = new Promise<string>((resolve, reject) => (finish = () => (settle === 'answer' ? resolve('late') : reject(new Error('connection lost')))));
      await expect(circuit.within(unanswered, 1)).rejects.toBe(DEADLINE_PASSED);
      expect(circuit.isOpen).toBe(true);
      // Another command timing out meanwhile does not take over: the first one's answer closes the circuit.
      await expect(circuit.within(new Promise(() => undefined), 1)).rejects.toBe(DEADLINE_PASSED);
      finish();
      await unanswered.catch(() => undefined);
      await new Promise((resolve) => setImmediate(resolve));
      expect(circuit.isOpen).toBe(false);
    }
  });
});
