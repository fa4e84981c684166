import { describe, expect, it } from '@jest/globals';
import type { EventClient } from '../common/event-client.js';
import type { StateUpdate } from '../protocol/state-update.js';
import { UploadTabClient } from './upload-tab.client.js';

function socket(sid: string, received: Array<[string, unknown]>): EventClient {
  return {
    token: 't',
    sid,
    headers: { 'user-agent': sid },
    remoteAddress: `addr-${sid}`,
    emitUpdate: (update: StateUpdate) => void received.push([sid, update]),
    emitError: (error) => void received.push([sid, error]),
  };
}

describe('UploadTabClient', () => {
  const identity = { token: 't', sid: 'upload', headers: { 'user-agent': 'upload' }, remoteAddress: 'addr-upload' };

  it('sends to whichever socket holds the token at each send, and drops what comes while none does', () => {
    const received: Array<[string, unknown]> = [];
    let current: EventClient | undefined = socket('first', received);
    const tab = new UploadTabClient(identity, () => current);
    tab.emitUpdate({ delta: { s: { a: 1 } } });
    expect(tab.sid).toBe('first');
    current = undefined;
    tab.emitUpdate({ delta: { s: { a: 2 } } });
    tab.emitError({ code: 'handler_error', message: 'lost' });
    expect(tab.connected).toBe(false);
    expect([tab.sid, tab.headers, tab.remoteAddress]).toEqual(['upload', { 'user-agent': 'upload' }, 'addr-upload']);
    current = socket('again', received);
    tab.emitUpdate({ delta: { s: { a: 3 } } });
    tab.emitError({ code: 'handler_error', message: 'told' });
    expect(received).toEqual([
      ['first', { delta: { s: { a: 1 } } }],
      ['again', { delta: { s: { a: 3 } } }],
      ['again', { code: 'handler_error', message: 'told' }],
    ]);
    expect([tab.token, tab.sid, tab.connected]).toEqual(['t', 'again', true]);
  });
});
