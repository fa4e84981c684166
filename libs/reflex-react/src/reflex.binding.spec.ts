import { describe, expect, it } from '@jest/globals';
import { ConnectionError, ListenerSet, type BridgeErrorPayload, type ConnectionStatus, type ReflexClient } from '@reflex-bridge/client';
import { ReflexBinding } from './reflex.binding.js';

/** The three client notifications the error log listens to, fired by the test. */
function fakeClient() {
  const errors = new ListenerSet<[BridgeErrorPayload]>();
  const connectionErrors = new ListenerSet<[ConnectionError]>();
  const statuses = new ListenerSet<[ConnectionStatus]>();
  const client = {
    onError: (listener: (error: BridgeErrorPayload) => void) => errors.add(listener),
    onConnectionError: (listener: (error: ConnectionError) => void) => connectionErrors.add(listener),
    onStatus: (listener: (status: ConnectionStatus) => void) => statuses.add(listener),
  } as unknown as ReflexClient;
  return { client, errors, connectionErrors, statuses };
}

describe('ReflexBinding error log', () => {
  it('dismisses only the connection error when given it, keeping the server errors', () => {
    const { client, errors, connectionErrors } = fakeClient();
    const binding = new ReflexBinding(client);
    binding.attach();
    const refusal: BridgeErrorPayload = { code: 'forbidden', message: 'no' };
    errors.emit(refusal);
    const handoff = new ConnectionError('handoff_failed', 'Session cookie handoff failed: HTTP 410');
    connectionErrors.emit(handoff);

    binding.clearErrors(handoff);
    expect(binding.errors()).toEqual({ errors: [refusal], connectionError: undefined });
  });

  it('keeps an events_unconfirmed report once the client is ready again, until dismissed; clears a lost connection', () => {
    const { client, connectionErrors, statuses } = fakeClient();
    const binding = new ReflexBinding(client);
    binding.attach();
    connectionErrors.emit(new ConnectionError('disconnect', 'lost'));
    statuses.emit('ready');
    expect(binding.errors().connectionError).toBeUndefined();
    // The clicks that may not have run: the reconnection a moment later must not hide them from the user.
    const unconfirmed = new ConnectionError('events_unconfirmed', '1 event sent since the server was last heard from may not have run');
    connectionErrors.emit(unconfirmed);
    statuses.emit('ready');
    expect(binding.errors().connectionError).toBe(unconfirmed);
    binding.clearErrors(unconfirmed);
    expect(binding.errors().connectionError).toBeUndefined();
  });

  it('keeps an events_unconfirmed report when a later connection error comes (a failed attempt), and adds a later one to it', () => {
    const { client, connectionErrors, statuses } = fakeClient();
    const binding = new ReflexBinding(client);
    binding.attach();
    const unconfirmed = new ConnectionError('events_unconfirmed', '1 event may not have run', { data: { events: ['a.increment'], count: 1 } });
    connectionErrors.emit(new ConnectionError('disconnect', 'lost'));
    connectionErrors.emit(unconfirmed);
    // Before, the next failed attempt replaced it: the user never saw that the click may not have run.
    connectionErrors.emit(new ConnectionError('connect_error', 'xhr poll error'));
    connectionErrors.emit(new ConnectionError('timeout', 'not ready'));
    statuses.emit('ready');
    expect(binding.errors().connectionError).toBe(unconfirmed);
    // A second connection lost with clicks: both sets of clicks are named, one notice.
    connectionErrors.emit(new ConnectionError('events_unconfirmed', '2 events may not have run', { data: { events: ['a.add', 'a.add'], count: 2 } }));
    const merged = binding.errors().connectionError!;
    expect(merged.kind).toBe('events_unconfirmed');
    expect(merged.data).toEqual({ events: ['a.increment', 'a.add', 'a.add'], count: 3 });
    expect(merged.message).toContain('3 events');
    binding.clearErrors(merged);
    expect(binding.errors().connectionError).toBeUndefined();
    connectionErrors.emit(new ConnectionError('connect_error', 'refused'));
    expect(binding.errors().connectionError?.kind).toBe('connect_error');
  });

  it('shows, once an events_unconfirmed notice is dismissed, the problem it kept hidden while that one still holds', () => {
    const { client, connectionErrors, statuses } = fakeClient();
    const binding = new ReflexBinding(client);
    binding.attach();
    const unconfirmed = new ConnectionError('events_unconfirmed', '1 event may not have run', { data: { events: ['a.increment'], count: 1 } });
    const lost = new ConnectionError('disconnect', 'lost');
    connectionErrors.emit(lost);
    connectionErrors.emit(unconfirmed);
    binding.clearErrors(unconfirmed);
    expect(binding.errors().connectionError).toBe(lost);
    connectionErrors.emit(unconfirmed);
    const refused = new ConnectionError('connect_error', 'refused');
    connectionErrors.emit(refused);
    // Still reconnecting: closing the notice must not make the page look fine.
    binding.clearErrors(unconfirmed);
    expect(binding.errors().connectionError).toBe(refused);
    // Ready again in between: nothing left to show.
    connectionErrors.emit(unconfirmed);
    connectionErrors.emit(new ConnectionError('connect_error', 'refused again'));
    statuses.emit('ready');
    binding.clearErrors(binding.errors().connectionError);
    expect(binding.errors().connectionError).toBeUndefined();
  });

  it('leaves a newer connection error alone when an older one is dismissed', () => {
    const { client, connectionErrors } = fakeClient();
    const binding = new ReflexBinding(client);
    binding.attach();
    const older = new ConnectionError('disconnect', 'lost');
    connectionErrors.emit(older);
    const newer = new ConnectionError('connect_error', 'refused');
    connectionErrors.emit(newer);

    binding.clearErrors(older);
    expect(binding.errors().connectionError).toBe(newer);
  });

  it('dismisses one server error, or everything without an argument', () => {
    const { client, errors, connectionErrors } = fakeClient();
    const binding = new ReflexBinding(client);
    binding.attach();
    const first: BridgeErrorPayload = { code: 'forbidden', message: 'a' };
    const second: BridgeErrorPayload = { code: 'busy', message: 'b' };
    errors.emit(first);
    errors.emit(second);
    const lost = new ConnectionError('disconnect', 'lost');
    connectionErrors.emit(lost);

    binding.clearErrors(first);
    expect(binding.errors()).toEqual({ errors: [second], connectionError: lost });
    binding.clearErrors();
    expect(binding.errors()).toEqual({ errors: [], connectionError: undefined });
  });

  it('keeps at most errorLimit server errors, none with errorLimit 0 (a server sending errors without end)', () => {
    for (const [limit, kept] of [
      [0, 0],
      [2, 2],
    ] as const) {
      const { client, errors } = fakeClient();
      const binding = new ReflexBinding(client, limit);
      binding.attach();
      for (let i = 0; i < 1000; i++) errors.emit({ code: 'busy', message: String(i) });
      expect(binding.errors().errors).toHaveLength(kept);
    }
    const { client } = fakeClient();
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => new ReflexBinding(client, bad)).toThrow(RangeError);
  });
});
