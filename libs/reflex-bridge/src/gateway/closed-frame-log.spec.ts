import type { Logger } from '@nestjs/common';
import { ClosedFrameLog } from './closed-frame-log.js';

function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: { warn: (line: string) => lines.push(line) } as unknown as Logger, lines };
}

describe('ClosedFrameLog', () => {
  it('logs one line per connection and 20 a minute in all, then says how many it did not log', () => {
    const { logger, lines } = recordingLogger();
    const log = new ClosedFrameLog(logger, '/_event');
    const decoder = {};
    log.record(decoder, new Error('A frame nests more than 64 levels.'));
    log.record(decoder, new Error('again'));
    expect(lines).toEqual(['Closed a connection to /_event for a frame it may not send: A frame nests more than 64 levels.']);
    for (let i = 0; i < 30; i++) log.record({}, new Error(`close ${i}`));
    expect(lines).toHaveLength(20);
    expect(lines[1]).toContain('(1 more such closes were not logged)');
  });

  it('cannot be made to forge a log line or write a long one', () => {
    const { logger, lines } = recordingLogger();
    new ClosedFrameLog(logger, '/_event').record({}, new Error(`one\nFAKE line ${'x'.repeat(5_000)}`));
    expect(lines[0]).not.toContain('\n');
    expect(lines[0]).toContain('one\\nFAKE line');
    expect(lines[0]!.length).toBeLessThan(450);
  });
});
