import { describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { OutageLog } from './outage-log.js';

class CapturingLogger extends Logger {
  readonly lines: string[] = [];
  override warn(message: unknown): void {
    this.lines.push(String(message));
  }
}

describe('OutageLog', () => {
  it('logs an outage when it starts and when it ends, with the failures in between, whatever their number', () => {
    const logger = new CapturingLogger();
    const outage = new OutageLog(logger, 'The state store');
    outage.succeeded();
    expect(logger.lines).toEqual([]);
    for (let i = 0; i < 1_540; i++) outage.failed(new Error('connection refused'));
    expect(logger.lines).toEqual([expect.stringMatching(/^The state store is unavailable \(connection refused\)/)]);
    outage.succeeded();
    outage.succeeded();
    expect(logger.lines).toHaveLength(2);
    expect(logger.lines[1]).toBe('The state store answers again; 1540 operations failed while it did not.');
    outage.failed('timeout');
    expect(logger.lines).toHaveLength(3);
    expect(logger.lines[2]).toMatch(/unavailable \(timeout\)/);
  });
});
