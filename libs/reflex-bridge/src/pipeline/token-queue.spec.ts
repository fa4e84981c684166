import { describe, expect, it } from '@jest/globals';
import { TokenQueue } from './token-queue.js';

const tick = (ms = 5) => new Promise((resolve) => setTimeout(resolve, ms));

describe('TokenQueue', () => {
  it('runs a task for an idle token at once, and a synchronous one leaves nothing queued', () => {
    const queue = new TokenQueue();
    const ran: string[] = [];
    expect(queue.run('a', () => void ran.push('first'))).toBeUndefined();
    expect(ran).toEqual(['first']);
    expect(queue.has('a')).toBe(false);
  });

  it('queues tasks behind one that went asynchronous, in arrival order, per token', async () => {
    const queue = new TokenQueue();
    const ran: string[] = [];
    const slow = queue.run('a', async () => {
      await tick(20);
      ran.push('slow a');
    });
    expect(queue.has('a')).toBe(true);
    const behind = queue.run('a', () => void ran.push('sync a'));
    expect(queue.run('b', () => void ran.push('sync b'))).toBeUndefined();
    expect(ran).toEqual(['sync b']);
    await Promise.all([slow, behind]);
    expect(ran).toEqual(['sync b', 'slow a', 'sync a']);
    await tick();
    expect(queue.has('a')).toBe(false);
  });

  it('keeps going after a failing task, thrown or rejected', async () => {
    const queue = new TokenQueue();
    const ran: string[] = [];
    expect(() => queue.run('a', () => { throw new Error('sync failure'); })).not.toThrow();
    const failed = queue.run('a', async () => {
      await tick();
      throw new Error('async failure');
    });
    const next = queue.run('a', () => void ran.push('after'));
    await expect(failed).resolves.toBeUndefined();
    await next;
    expect(ran).toEqual(['after']);
  });

  it('enqueue never runs a task inside its caller, even for an idle token', async () => {
    const queue = new TokenQueue();
    const ran: string[] = [];
    const later = queue.enqueue('a', () => void ran.push('follow-up'));
    ran.push('caller done');
    await later;
    expect(ran).toEqual(['caller done', 'follow-up']);
  });
});
