import { describe, expect, it } from '@jest/globals';
import { SilentConnectionWatch } from './silent-connection-watch.js';

/** A client whose PING fails the way `fail` says, each time. */
const clientFailing = (fail: () => Promise<unknown>) => ({ isReady: true, sendCommand: fail });

/** Resolves with the reasons given to `onSilent` once `checks` confirmations were asked (or one call without). */
async function watchUntil(client: ReturnType<typeof clientFailing>, confirm: (() => Promise<boolean>) | undefined, checks: number) {
  const silent: string[] = [];
  let asked = 0;
  let watch!: SilentConnectionWatch;
  await new Promise<void>((resolve) => {
    const counted = confirm && (async () => {
      const answer = await confirm();
      if (++asked === checks) setImmediate(resolve);
      return answer;
    });
    watch = new SilentConnectionWatch(client, 5, (reason) => {
      silent.push(reason);
      if (!confirm) resolve();
    }, counted);
  });
  watch.stop();
  return silent;
}

describe('SilentConnectionWatch', () => {
  it('counts a PING refused by a full queue as unanswered on a confirmed command connection: a busy worker whose path went silent is replaced', async () => {
    const queueFull = () => Promise.reject(new Error('The queue is full'));
    const silent = await watchUntil(clientFailing(queueFull), async () => true, 1);
    expect(silent).toEqual(['no answer to a PING within 5 ms, while Redis answered a new connection']);
  });

  it('keeps a connection Redis answers nobody on (paused): confirm says no', async () => {
    const never = () => new Promise<unknown>(() => undefined);
    expect(await watchUntil(clientFailing(never), async () => false, 2)).toEqual([]);
  });
});
