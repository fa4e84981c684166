import { describe, expect, it } from '@jest/globals';
import type { ExecutionContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { NoneTierGuard } from './none-tier.guard.js';

const contextMock = {
  getType: () => 'reflex',
  switchToHttp: () => ({ getRequest: () => undefined, getResponse: () => undefined, getNext: () => undefined }),
} as unknown as ExecutionContext;

describe('NoneTierGuard', () => {
  it('lets every event through synchronously, without reading a request', async () => {
    const moduleRef = await Test.createTestingModule({ providers: [NoneTierGuard] }).compile();
    const guard = moduleRef.get(NoneTierGuard);
    expect(guard.canActivate(contextMock)).toBe(true);
  });

  it('refuses what a subclass\'s shouldRefuse hook refuses', () => {
    class ClosedForMaintenance extends NoneTierGuard {
      protected override shouldRefuse(): boolean {
        return true;
      }
    }
    expect(new ClosedForMaintenance().canActivate(contextMock)).toBe(false);
  });
});
