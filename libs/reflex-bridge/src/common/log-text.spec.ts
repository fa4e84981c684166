import fc from 'fast-check';
import { logText } from './log-text.js';

describe('logText', () => {
  it('escapes C1 controls: NEL (a line break to some log tools) and CSI (an escape to some terminals)', () => {
    expect(logText('a\u0085[Nest] forged\u009b2Kb', 100)).toBe('a\\u0085[Nest] forged\\u009b2Kb');
  });

  it('leaves no control character of any text a browser sends (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        // eslint-disable-next-line no-control-regex -- finding control characters is the point
        expect(logText(text, 1_000)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
      }),
    );
  });
});
