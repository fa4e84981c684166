import { afterEach, describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { CookieHandoffService, isHandoffId } from './cookie-handoff.service.js';

describe('CookieHandoffService', () => {
  afterEach(() => {
    jest.useRealTimers();
  });
  const service = () => new CookieHandoffService({ redisUrl: undefined });
  const TAB = 'tab-token-1';

  it('hands the cookies over once, to the tab presenting its secret, its token and the expected cookies', async () => {
    const handoffs = service();
    const { id, secret } = await handoffs.issue(['sid=new; HttpOnly'], { sid: 'old' }, TAB);
    expect(await handoffs.redeem(id, { cookies: { sid: 'other' }, secret, clientToken: TAB })).toBeUndefined();
    // A refused attempt does not spend it.
    expect(await handoffs.redeem(id, { cookies: { sid: 'old' }, secret, clientToken: TAB })).toEqual(['sid=new; HttpOnly']);
    expect(await handoffs.redeem(id, { cookies: { sid: 'old' }, secret, clientToken: TAB })).toBeUndefined();
  });

  it('refuses a wrong secret and another tab\'s token', async () => {
    const handoffs = service();
    const { id, secret } = await handoffs.issue(['sid=new'], { sid: undefined }, TAB);
    expect(await handoffs.redeem(id, { cookies: {}, secret: `${secret}x`, clientToken: TAB })).toBeUndefined();
    expect(await handoffs.redeem(id, { cookies: {}, secret: '', clientToken: TAB })).toBeUndefined();
    expect(await handoffs.redeem(id, { cookies: {}, secret, clientToken: 'another-tab' })).toBeUndefined();
    expect(await handoffs.redeem(id, { cookies: {}, secret, clientToken: TAB })).toEqual(['sid=new']);
  });

  it('expects "no cookie" when the browser had none', async () => {
    const handoffs = service();
    const { id, secret } = await handoffs.issue(['sid=new'], { sid: undefined }, TAB);
    expect(await handoffs.redeem(id, { cookies: { sid: 'planted' }, secret, clientToken: TAB })).toBeUndefined();
    expect(await handoffs.redeem(id, { cookies: {}, secret, clientToken: TAB })).toEqual(['sid=new']);
  });

  it('refuses an expired handoff', async () => {
    jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z'), doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const handoffs = service();
    const { id, secret } = await handoffs.issue(['sid=new'], {}, TAB);
    jest.setSystemTime(new Date('2026-01-01T00:00:31Z'));
    expect(await handoffs.redeem(id, { cookies: {}, secret, clientToken: TAB })).toBeUndefined();
  });

  it('looks up only what has the shape of an id it issued, never a key the client named', async () => {
    const handoffs = service();
    const { id } = await handoffs.issue(['sid=new'], {}, TAB);
    expect(isHandoffId(id)).toBe(true);
    const store = (handoffs as unknown as { handoffs: { get(key: string): unknown } }).handoffs;
    const get = jest.spyOn(store, 'get');
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 80 }).filter((text) => !/^[A-Za-z0-9_-]{32}$/.test(text)), async (made) => {
        expect(isHandoffId(made)).toBe(false);
        expect(await handoffs.redeem(made, { cookies: {}, secret: 'x', clientToken: TAB })).toBeUndefined();
      }),
    );
    for (const made of [`${id}x`, id.slice(1), `{${id.slice(1, -1)}}`, `${id.slice(0, -1)}=`]) {
      expect(await handoffs.redeem(made, { cookies: {}, secret: 'x', clientToken: TAB })).toBeUndefined();
    }
    expect(get).not.toHaveBeenCalled();
  });

  it('refuses unknown ids', async () => {
    expect(await service().redeem('made-up', { cookies: {}, secret: 'x', clientToken: TAB })).toBeUndefined();
  });
  it('keeps a user\'s login waiting for its tab while 200 other addresses change sessions as fast as their limit allows', async () => {
    // The clock stands still: 22,000 handoffs take seconds, on a loaded machine more than the handoffs' 30 s life.
    jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z'), doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const handoffs = service();
    const { id, secret } = await handoffs.issue(['sid=new'], { sid: 'old' }, TAB, '2001:db8:1::');
    // 22,000 handoffs from others: past the 20,000 one process keeps.
    for (let i = 0; i < 110; i++) {
      await Promise.all(Array.from({ length: 200 }, (_, address) => handoffs.issue(['sid=x'], {}, `flood-${address}`, `2001:db8:2:${address.toString(16)}::`)));
    }
    expect(await handoffs.redeem(id, { cookies: { sid: 'old' }, secret, clientToken: TAB })).toEqual(['sid=new']);
  }, 60_000);
});
