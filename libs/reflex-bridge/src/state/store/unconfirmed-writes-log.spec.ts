import { describe, expect, it } from '@jest/globals';
import { UnconfirmedWritesLog } from './unconfirmed-writes-log.js';

describe('UnconfirmedWritesLog', () => {
  const capture = () => {
    const lines: string[] = [];
    return { lines, logger: { warn: (message: string) => void lines.push(`warn ${message}`), log: (message: string) => void lines.push(`log ${message}`) } };
  };

  it('logs one line per master when its writes stop being confirmed, and one with the count when they are again', () => {
    const { lines, logger } = capture();
    const log = new UnconfirmedWritesLog(logger, 1, 1000);
    expect(log.active).toBe(false);
    for (let i = 0; i < 5; i++) log.unconfirmed('10.0.0.1:7000');
    log.unconfirmed('10.0.0.2:7000');
    log.confirmed('10.0.0.3:7000');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^warn Redis Cluster master 10\.0\.0\.1:7000 does not confirm .*waitReplicas/);
    expect(log.active).toBe(true);
    log.confirmed('10.0.0.1:7000');
    log.confirmed('10.0.0.1:7000');
    expect(lines[2]).toBe('log Redis Cluster master 10.0.0.1:7000 confirms state writes again; 5 were not confirmed meanwhile.');
    expect(lines).toHaveLength(3);
    log.confirmed('10.0.0.2:7000');
    expect(log.active).toBe(false);
  });
});
