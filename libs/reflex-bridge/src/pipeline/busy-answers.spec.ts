import { describe, expect, it, jest } from '@jest/globals';
import { BRIDGE_ERROR_EVENT, BridgeError, type BridgeErrorPayload } from '../protocol/bridge-error.js';
import type { ClientEvent } from '../protocol/client-event.js';
import { BusyAnswers } from './busy-answers.js';

const busy = new BridgeError('busy', 'Too many events are waiting.');
const toast = (payload: BridgeErrorPayload): ClientEvent[] => [{ name: '_call_function', payload: { message: payload.message, bridge_error: payload } }];

describe('BusyAnswers', () => {
  it('answers a refused event with its bridge_error and its presentation, made once per event name', () => {
    const present = jest.fn(toast);
    const answers = new BusyAnswers((name) => busy.toPayload(name), present);
    const first = answers.answerTo('s.bump');
    expect(first.error.name).toBe(BRIDGE_ERROR_EVENT);
    expect(first.error.data).toEqual({ code: 'busy', message: 'Too many events are waiting.', event: 's.bump' });
    expect(first.presented?.name).toBe('event');
    expect(first.presented?.data).toEqual({ events: toast(busy.toPayload('s.bump')) });
    // The same messages for every further refusal of that name: encoded once by whoever writes them.
    expect(answers.answerTo('s.bump')).toBe(first);
    const other = answers.answerTo('s.other');
    expect(other).not.toBe(first);
    expect(other.error.data).toMatchObject({ event: 's.other' });
    expect(present).toHaveBeenCalledTimes(2);
  });

  it('sends no presentation when the presenter shows nothing', () => {
    const answers = new BusyAnswers((name) => busy.toPayload(name), () => []);
    expect(answers.answerTo('s.bump').presented).toBeUndefined();
  });

  it('keeps a bounded number of names whatever names a client makes up', () => {
    const present = jest.fn(toast);
    const answers = new BusyAnswers((name) => busy.toPayload(name), present);
    const first = answers.answerTo('name-0');
    for (let i = 1; i < 1_000; i++) answers.answerTo(`name-${i}`);
    // Long forgotten: made again, as a new answer.
    expect(answers.answerTo('name-0')).not.toBe(first);
    expect(present).toHaveBeenCalledTimes(1_001);
    // A name as long as a frame allows is answered, but its answer is not kept.
    const long = 'x'.repeat(100_000);
    expect(answers.answerTo(long).error.data).toMatchObject({ event: long });
    expect(answers.answerTo(long)).not.toBe(answers.answerTo(long));
  });
});
