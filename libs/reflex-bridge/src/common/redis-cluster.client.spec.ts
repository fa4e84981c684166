import { describe, expect, it } from '@jest/globals';
import { firstKeyOf, RedisClusterClient, type RedisCluster } from './redis-cluster.client.js';

/** A node-redis cluster client that answers each `sendCommand` with the next of `replies` (an Error rejects). */
function fakeCluster(replies: unknown[]): { cluster: RedisCluster; calls: () => number } {
  let calls = 0;
  const cluster = {
    on: () => cluster,
    sendCommand: async () => {
      calls++;
      const reply = replies.shift();
      if (reply instanceof Error) throw reply;
      return reply;
    },
  };
  return { cluster: cluster as unknown as RedisCluster, calls: () => calls };
}

describe('firstKeyOf (how RedisClusterClient routes a raw command)', () => {
  it('routes a script call by its first key, and one without keys anywhere', () => {
    expect(firstKeyOf(['EVALSHA', 'abc', '2', 'rx:state:v2:{t}:lock', 'rx:state:v2:{t}', 'value'])).toBe('rx:state:v2:{t}:lock');
    expect(firstKeyOf(['eval', 'return 1', '1', 'k', 'a'])).toBe('k');
    expect(firstKeyOf(['EVAL', 'return 1', '0', 'not-a-key'])).toBeUndefined();
  });

  it('routes a key command by its first argument', () => {
    expect(firstKeyOf(['HGETALL', 'rx:state:v2:{t}'])).toBe('rx:state:v2:{t}');
    expect(firstKeyOf(['PING'])).toBeUndefined();
  });
});

describe('RedisClusterClient.sendCommand during a slot migration', () => {
  const tryAgain = () => new Error('TRYAGAIN Multiple keys request during rehashing of slot');

  it('sends a command refused with TRYAGAIN again until it runs', async () => {
    const { cluster, calls } = fakeCluster([tryAgain(), tryAgain(), 'OK']);
    await expect(new RedisClusterClient(cluster, 500).sendCommand(['EVALSHA', 'sha', '2', 'rx:{t}:lock', 'rx:{t}'])).resolves.toBe('OK');
    expect(calls()).toBe(3);
  });

  it('does not send again a command refused for another reason', async () => {
    const { cluster, calls } = fakeCluster([new Error('NOSCRIPT No matching script'), 'OK']);
    await expect(new RedisClusterClient(cluster, 500).sendCommand(['EVALSHA', 'sha', '1', 'k'])).rejects.toThrow('NOSCRIPT');
    expect(calls()).toBe(1);
  });

  it('rejects with the error of the last try when a retry fails otherwise', async () => {
    const { cluster, calls } = fakeCluster([tryAgain(), new Error('CLUSTERDOWN The cluster is down')]);
    await expect(new RedisClusterClient(cluster, 500).sendCommand(['EVALSHA', 'sha', '1', 'k'])).rejects.toThrow('CLUSTERDOWN');
    expect(calls()).toBe(2);
  });
});

/**
 * A three-master layout whose nodes answer PUBLISH with the number of receivers (1), except `silent` ones, which
 * hold each PUBLISH until `wake(address)`, and `down` ones, whose connection refuses it at once.
 */
function fakeLayout(silent: string[], down: string[] = []) {
  const sent: string[] = [];
  const held = new Map<string, Array<() => void>>();
  const masters = ['a:1', 'b:2', 'c:3'].map((address) => ({ address }));
  let turn = 0;
  const client = (address: string) => ({
    sendCommand: (args: string[]) => {
      sent.push(`${address} ${args.join(' ')}`);
      if (down.includes(address)) return Promise.reject(new Error('The client is closed'));
      if (!silent.includes(address)) return Promise.resolve(1);
      return new Promise((resolve) => held.set(address, [...(held.get(address) ?? []), () => resolve(1)]));
    },
  });
  const cluster = {
    on: () => cluster,
    masters,
    replicas: [],
    nodeClient: async (node: { address: string }) => client(node.address),
    // node-redis: each node in turn.
    publish: (channel: string, message: string) => client(masters[turn++ % masters.length]!.address).sendCommand(['PUBLISH', channel, message]),
  };
  const wake = (address: string) => {
    for (const resolve of held.get(address) ?? []) resolve();
    held.delete(address);
  };
  return { cluster: cluster as unknown as RedisCluster, sent, wake };
}

describe('RedisClusterClient.publish with a node that answers nothing', () => {
  it('sends a PUBLISH unanswered within stallMs once more to another node, and the next ones there at once', async () => {
    const { cluster, sent } = fakeLayout(['a:1', 'b:2']);
    const client = new RedisClusterClient(cluster, 500, 20);
    for (let i = 0; i < 6; i++) await expect(client.publish('live', `m${i}`)).resolves.toBe(1);
    // Each silent node was offered one publish at most (sent again to the next node); every one reached c:3.
    expect(sent.filter((line) => !line.startsWith('c:3')).length).toBeLessThanOrEqual(2);
    expect(sent.filter((line) => line.startsWith('c:3'))).toHaveLength(6);
  });

  it("sends one worker's publishes to one node while it answers, so they arrive in the order sent", async () => {
    const { cluster, sent } = fakeLayout([]);
    const client = new RedisClusterClient(cluster, 500, 20);
    await Promise.all([0, 1, 2, 3, 4, 5].map((i) => client.publish('live', `m${i}`)));
    expect(new Set(sent.map((line) => line.split(' ')[0])).size).toBe(1);
  });

  it('waits for a silent node when every node is silent (the publish is not dropped)', async () => {
    const { cluster, sent, wake } = fakeLayout(['a:1', 'b:2', 'c:3']);
    const client = new RedisClusterClient(cluster, 500, 20);
    let settled = false;
    const published = client.publish('live', 'm').then((receivers) => ((settled = true), receivers));
    while (sent.length < 3) await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    for (const address of ['a:1', 'b:2', 'c:3']) wake(address);
    await expect(published).resolves.toBe(1);
  });

  it('sends a PUBLISH refused by a lost connection to another node', async () => {
    const { cluster, sent } = fakeLayout([], ['a:1']);
    const client = new RedisClusterClient(cluster, 500, 20);
    for (let i = 0; i < 6; i++) await expect(client.publish('live', `m${i}`)).resolves.toBe(1);
    // It is not offered the next ones.
    expect(sent.filter((line) => line.startsWith('a:1')).length).toBeLessThanOrEqual(1);
  });
});

/** A one-master cluster whose `sSubscribe` answers each call with the next of `outcomes` (an Error rejects). */
function fakeSubscriber(outcomes: unknown[]) {
  let calls = 0;
  const cluster = {
    isOpen: false,
    on: () => cluster,
    connect: async () => void (cluster.isOpen = true),
    close: async () => void (cluster.isOpen = false),
    masters: [{ address: 'a:1' }],
    _slots: { slots: [] },
    sSubscribe: async () => {
      calls++;
      const outcome = outcomes.length > 1 ? outcomes.shift() : outcomes[0];
      if (outcome instanceof Error) throw outcome;
    },
  };
  return { client: new RedisClusterClient(cluster as unknown as RedisCluster, 1), calls: () => calls };
}

describe('RedisClusterClient.sSubscribe when its connection is dropped before the master answered', () => {
  it('sends it again, and resolves once the master confirmed it', async () => {
    // What the subscription probe's drop of a frozen master's connection fails it with: node-redis then forgets it.
    const { client, calls } = fakeSubscriber([new Error('Disconnects client'), new Error('The client is closed'), undefined]);
    await expect(client.sSubscribe('rx:io#/_event#rx:token:t#', () => undefined)).resolves.toBeUndefined();
    expect(calls()).toBe(3);
  });

  it('does not send again one that Redis refused', async () => {
    const { client, calls } = fakeSubscriber([new Error('MOVED 1 b:2'), undefined]);
    await expect(client.sSubscribe('c', () => undefined)).rejects.toThrow('MOVED');
    expect(calls()).toBe(1);
  });

  it('gives up once the client is closed', async () => {
    const { client, calls } = fakeSubscriber([new Error('Disconnects client')]);
    const subscribed = client.sSubscribe('c', () => undefined);
    while (calls() === 0) await new Promise((resolve) => setImmediate(resolve));
    await client.close();
    await expect(subscribed).rejects.toThrow('Disconnects client');
  });
});

describe("RedisClusterClient.adapterSubscriber behind a master that answers nothing", () => {
  /** One master; an SSUBSCRIBE of `held` waits until `release()`, every other (un)subscription is answered at once. */
  function frozenHead(held: string) {
    const calls: string[] = [];
    let release = () => undefined as void;
    const cluster = {
      isOpen: false,
      on: () => cluster,
      connect: async () => void (cluster.isOpen = true),
      masters: [{ address: 'a:1' }],
      _slots: { slots: [] },
      sSubscribe: (channel: string) => {
        calls.push(`+${channel}`);
        return channel === held ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
      },
      sUnsubscribe: async (channel: string) => void calls.push(`-${channel}`),
    };
    const client = new RedisClusterClient(cluster as unknown as RedisCluster, 1);
    return { adapter: client.adapterSubscriber(() => undefined), calls, release: () => release() };
  }
  /** Every (un)subscription here settles in microtasks: all of them ran once the event loop turns. */
  const settled = () => new Promise((resolve) => setImmediate(resolve));
  const listener = () => undefined;

  it('drops a room that came and went while its subscription waited, and keeps the one that stays', async () => {
    const { adapter, calls, release } = frozenHead('frozen');
    void adapter.sSubscribe('frozen', listener, true);
    for (let i = 0; i < 100; i++) {
      void adapter.sSubscribe(`room-${i}`, listener, true);
      void adapter.sUnsubscribe(`room-${i}`, undefined, true);
    }
    void adapter.sSubscribe('stays', listener, true);
    await settled();
    expect(calls).toEqual(['+frozen']);
    release();
    await settled();
    // Before: +room-0, -room-0, +room-1, ... 200 round trips at the thaw, each pair held in memory until then.
    expect(calls).toEqual(['+frozen', '+stays']);
  });

  it('keeps the order of a room left and created again behind it: the room stays subscribed', async () => {
    const { adapter, calls, release } = frozenHead('frozen');
    await adapter.sSubscribe('room', listener, true);
    void adapter.sSubscribe('frozen', listener, true);
    void adapter.sUnsubscribe('room', undefined, true);
    void adapter.sSubscribe('room', listener, true);
    await settled();
    release();
    await settled();
    expect(calls).toEqual(['+room', '+frozen', '-room', '+room']);
  });

  it("still unsubscribes a room subscribed before, when it comes back and goes again meanwhile", async () => {
    const { adapter, calls, release } = frozenHead('frozen');
    await adapter.sSubscribe('room', listener, true);
    void adapter.sSubscribe('frozen', listener, true);
    void adapter.sUnsubscribe('room', undefined, true);
    void adapter.sSubscribe('room', listener, true);
    void adapter.sUnsubscribe('room', undefined, true);
    await settled();
    expect(calls).toEqual(['+room', '+frozen']);
    release();
    await settled();
    // The room's first unsubscription, queued before it came back, still runs: it is not left subscribed.
    expect(calls).toEqual(['+room', '+frozen', '-room']);
  });
});
