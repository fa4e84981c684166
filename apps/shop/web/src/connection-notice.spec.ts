import { describe, expect, it } from '@jest/globals';
import { ConnectionError } from '@reflex-bridge/client';
import { connectionNoticeText } from './connection-notice.js';

describe('the header notice of a connection problem', () => {
  it('tells a shopper in plain words how many clicks may not have run, without the wire names', () => {
    const name = 'reflex___state____state.cart_state.add';
    const two = new ConnectionError('events_unconfirmed', `2 events sent since the server was last heard from may not have run: "${name}", "${name}".`, { data: { events: [name, name], count: 2 } });
    expect(connectionNoticeText(two)).toBe('Your last 2 actions may not have gone through: the connection was lost before the shop answered. Check the page, and try again if needed.');
    const one = new ConnectionError('events_unconfirmed', 'whatever', { data: { events: [name], count: 1 } });
    expect(connectionNoticeText(one)).toMatch(/^Your last action may not/);
    expect(connectionNoticeText(one)).not.toContain('reflex___state');
  });

  it("shows the client's own message for the other problems", () => {
    const dropped = new ConnectionError('disconnect', 'The connection to the server was lost (transport close).', { reason: 'transport close' });
    expect(connectionNoticeText(dropped)).toBe('The connection to the server was lost (transport close).');
  });
});
