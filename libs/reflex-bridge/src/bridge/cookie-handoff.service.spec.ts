import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { CookieHandoffService } from './cookie-handoff.service.js';

describe('CookieHandoffService', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('hands the cookies over once, to a browser presenting the expected cookies', () => {
    const service = new CookieHandoffService();
    const token = service.issue(['sid=new; HttpOnly'], { sid: 'old' });
    expect(service.redeem(token, { sid: 'other' })).toBeUndefined();
    const second = service.issue(['sid=new; HttpOnly'], { sid: 'old' });
    expect(service.redeem(second, { sid: 'old' })).toEqual(['sid=new; HttpOnly']);
    expect(service.redeem(second, { sid: 'old' })).toBeUndefined();
  });

  it('refuses an expired token', () => {
    jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
    const service = new CookieHandoffService();
    const token = service.issue(['sid=new'], {});
    jest.setSystemTime(new Date('2026-01-01T00:00:31Z'));
    expect(service.redeem(token, {})).toBeUndefined();
  });

  it('refuses unknown tokens', () => {
    expect(new CookieHandoffService().redeem('made-up', {})).toBeUndefined();
  });
});
