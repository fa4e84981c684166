import { SyntheticResponse } from './synthetic-response.js';

describe('SyntheticResponse', () => {
  it("calls whenFinished callbacks once, after the 'finish' listeners, and not the cancelled ones", () => {
    const response = new SyntheticResponse();
    const calls: string[] = [];
    response.on('finish', () => calls.push('listener'));
    const cancelled = () => calls.push('cancelled');
    response.whenFinished(() => calls.push('first'));
    response.whenFinished(cancelled);
    response.whenFinished(() => calls.push('second'));
    response.cancelWhenFinished(cancelled);
    expect(calls).toEqual([]);
    response.end();
    response.end();
    expect(calls).toEqual(['listener', 'first', 'second']);
    expect(response.finished).toBe(true);
  });

  it('leaves its listener table unmade when only the bridge waits for the end', () => {
    const response = new SyntheticResponse();
    response.whenFinished(() => undefined);
    response.end();
    expect(response.listenerCount('finish')).toBe(0);
    expect(Object.prototype.hasOwnProperty.call(response, '_events')).toBe(false);
  });
});
