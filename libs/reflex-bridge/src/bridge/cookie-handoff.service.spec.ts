import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { CookieHandoffService } from './cookie-handoff.service.js';

describe('CookieHandoffService', () => {
  afterEach(() => {
    jest.useRealTimers();
  });
  const service = () => new CookieHandoffService({ redisUrl: undefined });

  it('hands the cookies over once, to a browser presenting the expected cookies', async () => {
    const handoffs = service();
    const token = await handoffs.issue(['sid=new; HttpOnly'], { sid: 'old' });
    expect(await handoffs.redeem(token, { sid: 'other' })).toBeUndefined();
    const second = await handoffs.issue(['sid=new; HttpOnly'], { sid: 'old' });
    expect(await handoffs.redeem(second, { sid: 'old' })).toEqual(['sid=new; HttpOnly']);
    expect(await handoffs.redeem(second, { sid: 'old' })).toBeUndefined();
  });

  it('expects "no cookie" when the browser had none', async () => {
    const handoffs = service();
    const token = await handoffs.issue(['sid=new'], { sid: undefined });
    expect(await handoffs.redeem(token, { sid: 'planted' })).toBeUndefined();
    const again = await handoffs.issue(['sid=new'], { sid: undefined });
    expect(await handoffs.redeem(again, {})).toEqual(['sid=new']);
  });

  it('refuses an expired token', async () => {
    jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z'), doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const handoffs = service();
    const token = await handoffs.issue(['sid=new'], {});
    jest.setSystemTime(new Date('2026-01-01T00:00:31Z'));
    expect(await handoffs.redeem(token, {})).toBeUndefined();
  });

  it('refuses unknown tokens', async () => {
    expect(await service().redeem('made-up', {})).toBeUndefined();
  });
});
