import { describe, expect, it, jest } from '@jest/globals';
import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { of, timer, map } from 'rxjs';
import { runGuards } from './guard-runner.js';

const context = {} as ExecutionContext;
const guard = (answer: unknown): CanActivate & { canActivate: jest.Mock } => ({ canActivate: jest.fn(() => answer) }) as never;

describe('runGuards', () => {
  it('answers synchronously, without a promise, when every guard answers synchronously', () => {
    expect(runGuards([guard(true), guard(true)], context)).toBe(true);
    expect(runGuards([], context)).toBe(true);
  });

  it('stops at the first guard answering false: later guards never run', () => {
    const later = guard(true);
    expect(runGuards([guard(true), guard(false), later], context)).toBe(false);
    expect(later.canActivate).not.toHaveBeenCalled();
  });

  it('waits for a promise, then runs the rest', async () => {
    const later = guard(true);
    const answer = runGuards([guard(Promise.resolve(true)), later], context);
    expect(answer).toBeInstanceOf(Promise);
    await expect(answer).resolves.toBe(true);
    expect(later.canActivate).toHaveBeenCalledTimes(1);
    await expect(runGuards([guard(Promise.resolve(false)), later], context)).resolves.toBe(false);
    expect(later.canActivate).toHaveBeenCalledTimes(1);
  });

  it('takes an observable by its last value', async () => {
    await expect(runGuards([guard(of(false, true))], context)).resolves.toBe(true);
    await expect(runGuards([guard(timer(1).pipe(map(() => false)))], context)).resolves.toBe(false);
  });

  it('propagates what a guard throws: synchronously from a synchronous guard, as a rejection from a later one', async () => {
    const throwing: CanActivate = {
      canActivate: () => {
        throw new Error('no entry');
      },
    };
    expect(() => runGuards([throwing], context)).toThrow('no entry');
    await expect(runGuards([guard(Promise.resolve(true)), throwing], context)).rejects.toThrow('no entry');
    await expect(runGuards([guard(Promise.reject(new Error('store down')))], context)).rejects.toThrow('store down');
  });
});
