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

  it.each([
    ['before', 0],
    ['just after', 2],
  ])('keeps a connection whose PING Redis answers %s confirm hears it (a freeze that ended meanwhile): it was not silent', async (_when, lateMs) => {
    // The PING outlives its deadline (Redis frozen), then Redis wakes and answers the new connection and the PING at
    // once, in either order. Replacing the connection would fail the commands it is answering now.
    const silent: string[] = [];
    let answerPing!: () => void;
    let pings = 0;
    let decided!: () => void;
    // The check's decision is final once it replaced the connection or sent the next PING on it.
    const decision = new Promise<void>((resolve) => (decided = resolve));
    const client = {
      isReady: true,
      sendCommand: () => {
        if (++pings === 2) decided();
        return new Promise<unknown>((resolve) => (answerPing = () => resolve('PONG')));
      },
    };
    const confirm = async () => {
      setTimeout(answerPing, lateMs);
      if (lateMs === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      return true;
    };
    const watch = new SilentConnectionWatch(client, 5, (reason) => {
      silent.push(reason);
      decided();
    }, confirm);
    await decision;
    watch.stop();
    expect(silent).toEqual([]);
  });
});
