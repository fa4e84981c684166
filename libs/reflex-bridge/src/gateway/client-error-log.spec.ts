import type { Logger } from '@nestjs/common';
import { ClientErrorLog } from './client-error-log.js';

function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: { warn: (line: string) => lines.push(line) } as unknown as Logger, lines };
}

describe('ClientErrorLog', () => {
  it('logs at most 5 reports per connection and 20 a minute in all, then says how many it dropped', () => {
    const { logger, lines } = recordingLogger();
    const log = new ClientErrorLog(logger);
    const noisy = {};
    for (let i = 0; i < 50; i++) log.record(noisy, 'token-aaaaaaaa', { message: `report ${i}` });
    expect(lines).toHaveLength(5);
    const connections = Array.from({ length: 30 }, () => ({}));
    for (const connection of connections) log.record(connection, 'token-bbbbbbbb', { message: 'x' });
    expect(lines).toHaveLength(20);
    expect(lines[5]).toContain('45 earlier reports over the limits were dropped');
  });

  it('never runs what a report carries, and a report cannot forge a log line', () => {
    const { logger, lines } = recordingLogger();
    const log = new ClientErrorLog(logger);
    const getter = Object.defineProperty({}, 'message', {
      enumerable: true,
      get() {
        throw new Error('ran the sender’s getter');
      },
    });
    expect(() => log.record({}, 'token-cccccccc', getter)).not.toThrow();
    log.record({}, 'token-cccccccc', { message: 'one\nFAKE line\u2028two', error_type: 'x'.repeat(5000) });
    log.record({}, 'token-cccccccc', Object.create({ message: 'inherited' }));
    expect(lines.every((line) => !/[\n\u2028]/.test(line))).toBe(true);
    expect(lines[1]).toContain('one\\nFAKE line\\u2028two');
    expect(lines[1].length).toBeLessThan(1400);
    expect(lines[2]).not.toContain('inherited');
  });

  it('ignores reports of a connection with no token yet', () => {
    const { logger, lines } = recordingLogger();
    new ClientErrorLog(logger).record({}, '', { message: 'x' });
    expect(lines).toEqual([]);
  });
});
