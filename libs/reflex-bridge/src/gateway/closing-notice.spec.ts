import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Socket } from 'socket.io';
import { CLOSING_NOTICE_QUERY, takesClosingNotice } from './closing-notice.js';

/** A socket whose handshake query holds `value` under `closing_notice` (as Socket.IO parses a client's query). */
const socketWith = (value: unknown): Socket => ({ handshake: { query: { [CLOSING_NOTICE_QUERY]: value } } }) as unknown as Socket;

describe('takesClosingNotice: what a client may put in its handshake query', () => {
  it('takes exactly `closing_notice=1`, as the module\'s client sends it', () => {
    expect(takesClosingNotice(socketWith('1'))).toBe(true);
    expect(takesClosingNotice({ handshake: { query: {} } } as unknown as Socket)).toBe(false);
  });

  it('takes nothing else: a repeated parameter (an array), another string, an object from a hostile query', () => {
    for (const value of [['1', '1'], ['1'], '0', '11', ' 1', '', 'true', { 0: '1' }, 1, true, null]) expect(takesClosingNotice(socketWith(value))).toBe(false);
    fc.assert(
      fc.property(fc.anything(), (value) => {
        expect(takesClosingNotice(socketWith(value))).toBe(value === '1');
      }),
    );
  });
});
