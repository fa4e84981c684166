import { describe, expect, it } from '@jest/globals';
import { SessionEndings } from './session-endings.js';

describe('SessionEndings.endedSince', () => {
  it('tells an event whether its session ended after it read it, and only its session', async () => {
    const endings = new SessionEndings();
    const before = endings.mark();
    expect(endings.endedSince('s1', before)).toBe(false);
    await endings.report({ sessionId: 's1', reason: 'logout', remote: false });
    expect(endings.endedSince('s1', before)).toBe(true);
    expect(endings.endedSince('s2', before)).toBe(false);
    // Read after the end: the session the event read was already gone, and is not this end's business.
    expect(endings.endedSince('s1', endings.mark())).toBe(false);
  });

  it('counts an end heard twice (the store and its keyspace notification) at its latest hearing', async () => {
    const endings = new SessionEndings();
    await endings.report({ sessionId: 's1', reason: 'logout', remote: false });
    const between = endings.mark();
    await endings.report({ sessionId: 's1', reason: 'deleted', remote: false });
    expect(endings.endedSince('s1', between)).toBe(true);
  });

  it('remembers the latest 10,000 ends, whatever their number', async () => {
    const endings = new SessionEndings();
    const before = endings.mark();
    for (let i = 0; i <= 10_000; i++) await endings.report({ sessionId: `s${i}`, reason: 'deleted', remote: false });
    expect(endings.endedSince('s0', before)).toBe(false);
    expect(endings.endedSince('s1', before)).toBe(true);
    expect(endings.endedSince('s10000', before)).toBe(true);
  });
});
