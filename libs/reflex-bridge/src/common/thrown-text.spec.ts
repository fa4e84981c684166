import fc from 'fast-check';
import { thrownText } from './thrown-text.js';

/** Lines of a log text that are not the first (the error's own) and not a stack frame: each would read as a line of its own. */
function forgedLines(detail: string): string[] {
  return detail
    .split('\n')
    .slice(1)
    .filter((line) => !line.startsWith('    at '));
}

describe('thrownText', () => {
  it('escapes the control characters of a message quoting client input, so it cannot forge log lines', () => {
    const error = new Error('invalid quantity "1\n[Nest] 1  - 12/05/2026, 2:00:00 AM     LOG [Auth] admin logged in\u2028\u001b[2K"');
    const { detail } = thrownText(error, 2_000, 16_000);
    expect(forgedLines(detail)).toEqual([]);
    expect(detail).not.toContain('\u001b');
    expect(detail).not.toContain('\u2028');
    expect(detail.split('\n')[0]).toBe('Error: invalid quantity "1\\n[Nest] 1  - 12/05/2026, 2:00:00 AM     LOG [Auth] admin logged in\\u2028\\u001b[2K"');
    // The stack frames stay one per line.
    expect(detail.split('\n').length).toBeGreaterThan(1);
  });

  it('never lets a message add a line or a terminal escape, whatever it holds (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.boolean(), (message, customStack) => {
        const error = new Error(message);
        if (customStack) error.stack = `Wrapped: ${message}\n    at somewhere (file.js:1:1)`;
        const { detail } = thrownText(error, 2_000, 16_000);
        expect(forgedLines(detail).every((line) => line.startsWith('    at '))).toBe(true);
        // eslint-disable-next-line no-control-regex -- finding control characters is the point
        expect(detail.replace(/\n {4}at /g, '')).not.toMatch(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/);
      }),
    );
  });

  it('keeps the log text bounded however many control characters a message holds', () => {
    const { detail } = thrownText(new Error('\u0001'.repeat(300_000)), 2_000, 16_000);
    expect(detail.length).toBeLessThan(17_000);
  });
});
