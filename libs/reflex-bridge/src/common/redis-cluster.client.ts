import { EventEmitter } from 'node:events';
import calculateSlot from 'cluster-key-slot';
import type { createCluster } from 'redis';
import { CommandNotRoutedError } from './command-not-routed.error.js';
import { DEADLINE_PASSED, withinDeadline } from './deadline.js';

/** A node-redis (5 or 6) cluster client, as `createCluster` from the `redis` package returns it. */
export type RedisCluster = ReturnType<typeof createCluster>;

/** One sharded channel's listeners, as node-redis keeps them (`getPubSubListeners('SHARDED')`). */
type ChannelListener = (message: never, channel: never) => unknown;
type ShardedCall = (channel: string, listener?: ChannelListener, bufferMode?: boolean) => Promise<void>;
type ChannelListeners = { buffers: Set<ChannelListener>; strings: Set<ChannelListener>; unsubscribing?: boolean };

/** The parts of node-redis's cluster internals this class reads (declared, not private, in its typings). */
interface ClusterInternals {
  /** `slots[n].master` serves slot `n` (empty before the layout is known). */
  _slots: {
    rediscover(startWith: unknown): Promise<void>;
    slots: ({ master: { address: string } } | undefined)[];
    /** The connection of the classic (un)subscriptions, to a node node-redis picked at random; made on first use. */
    pubSubNode?: { address: string; client: { isOpen: boolean; destroy(): void; getPubSubListeners(type: 'CHANNELS'): Map<string, ChannelListeners> } };
  };
  masters: {
    address: string;
    client?: { isReady: boolean; isOpen: boolean; sendCommand(args: string[]): Promise<unknown> };
    pubSub?: { client: { isReady: boolean; sendCommand(args: string[]): Promise<unknown>; getPubSubListeners(type: 'SHARDED'): Map<string, ChannelListeners> } };
  }[];
  pubSubNode?: { client: { isReady: boolean } };
  /** The replicas of the layout; node-redis connects to one on first use. */
  replicas: ClusterNode[];
}

/** A node of the layout, as node-redis's `nodeClient(node)` takes it. */
interface ClusterNode {
  address: string;
}

/** A node's connection, as node-redis keeps it in `masters` (its `options` say where the node is). */
type NodeClient = NonNullable<ClusterInternals['masters'][number]['client']>;

/** A node's connection, as node-redis's cluster client drops and connects it again (a `RedisClient`). */
interface ReopenableClient {
  isReady: boolean;
  destroy(): void;
  connect(): Promise<unknown>;
}

/**
 * How long a command refused with `TRYAGAIN` (its keys split by a slot migration) is sent again: a slot's keys move
 * within milliseconds; below the state store's default `commandTimeoutMs` (5 s), so a migration that stays half done
 * (a reshard that died) still fails the event as refused (`state_unavailable`), not as unanswered.
 */
const MIGRATION_RETRY_MS = 2_000;

/** The key of the classic (un)subscriptions' queue (see `RedisClusterClient.serially`): one node carries them all. */
const CLASSIC_CHANNELS = '';

/** Redis Cluster's slot count. */
const SLOTS = 16_384;

/** How long {@link RedisClusterClient.ping} waits for every master's answer (a single node's default command timeout). */
const PING_DEADLINE_MS = 5_000;

/** Commands whose keys follow a key count (`EVALSHA sha numkeys key…`): their first key is the fourth word. */
const KEYS_AFTER_COUNT = new Set(['EVAL', 'EVALSHA', 'EVAL_RO', 'EVALSHA_RO', 'FCALL', 'FCALL_RO']);

/**
 * A node-redis cluster client in the shape of a single-node client, for the library's Redis users that share the
 * worker's {@link RedisConnections}: the same commands (`sendCommand(args)` is routed by its first key, `get`,
 * `set`, `eval`, `evalSha`, `publish`, (un)subscriptions), `isReady`, and `error` / `ready` events. On top of what
 * node-redis does itself, it keeps up with a failover:
 *
 * - node-redis learns of a new layout only from a `MOVED` reply, and a dead master never sends one: its slots'
 *   commands would fail until the process restarts. Here the first failed node connection starts a refresh of the
 *   layout (every `refreshIntervalMs`) until every node in use is connected again, that is once a replica took the
 *   dead master's place.
 * - A master that stops answering but keeps its connections (a frozen process or VM, a network black hole) sends
 *   neither an error nor a `MOVED`: once a command has waited `stallMs` without an answer, the layout is refreshed the
 *   same way (asked of a node that answers a `PING`), until no command waits that long, that is once a replica took
 *   the frozen master's place and its connection, with the commands waiting on it, was dropped. A subscriber, which
 *   sends no commands, PINGs its subscription connections every `stallMs` instead.
 * - A refresh drops the connections of a node that left the layout, with the sharded (`SSUBSCRIBE`) subscriptions
 *   they carried: they are made again on the slot's new master.
 * - node-redis keeps the layout it was last given and a node's connection object for as long as the node is in it: a
 *   layout with slots that no master serves, or a master's connection that was closed, failed the commands of those
 *   slots for good (no node error, no `MOVED` ever came to start a refresh). A command refused that way starts the
 *   refresh too, and a refresh is done only once its own request for the layout succeeded, every slot has a master
 *   in it, and every master's connection is open (a closed one is opened again).
 *
 * Events: `error` once per outage (the first node connection that failed), `ready` at start and when every node
 * in use is reachable again. `isReady` stays true during a node's outage: the other masters' slots keep working,
 * and a command for the lost slots fails at once (no offline queue) until the replica took over.
 * @publicApi
 */
export class RedisClusterClient extends EventEmitter {
  private connected = false;
  private closed = false;
  /** Why the cluster is degraded (a node unreachable), while it is. */
  private down?: string;
  private refreshTimer?: NodeJS.Timeout;
  private starting?: Promise<void>;
  /**
   * The (un)subscriptions queued per subscription connection (see `serially`): by master address for sharded
   * channels, {@link CLASSIC_CHANNELS} for classic ones. At most one entry per master, removed once its queue is empty.
   */
  private readonly pubSubQueues = new Map<string, PubSubQueue>();
  /** The Socket.IO adapter's room subscriptions queued and not started, by channel (see {@link adapterSubscriber}). */
  private readonly queuedRooms = new Map<string, { queue: PubSubQueue; entry: QueuedPubSub }>();
  /** When each command sent and not yet answered was sent, by a sequence number (so the oldest comes first). */
  private readonly unanswered = new Map<number, number>();
  private sent = 0;
  /**
   * Looks at the oldest unanswered command once it could have waited `stallMs` (one timer for them all); or, for a
   * subscriber, starts the next round of PINGs.
   */
  private stallTimer?: NodeJS.Timeout;
  /** The last round of PINGs on the subscription connections had one unanswered. */
  private probeStalled = false;
  /** Connections with a PING unanswered. */
  private readonly pinging = new WeakSet<NodeClient>();
  /** The health checks' PINGs unanswered, by connection (see {@link pingMasters}). */
  private readonly healthPings = new WeakMap<NodeClient, Promise<unknown>>();
  /** Connections whose health-check PING passed its deadline unanswered (at most one per master). */
  private readonly stalledPings = new Set<NodeClient>();
  /** The channels {@link channelPerMaster} handed out, by master address. */
  private readonly masterChannels = new Map<string, string>();
  /** Numbers the hash tags of new channels of {@link channelPerMaster}. */
  private channelSerial = 0;
  /** Keyless PUBLISHes unanswered past `stallMs`, by node address: such a node is passed over (see {@link publish}). */
  private readonly overduePublishes = new Map<string, number>();
  /**
   * The node that takes the keyless PUBLISHes (an index into the masters, then the replicas): a random one at first,
   * so that the workers spread over the nodes.
   */
  private publishTurn = Math.floor(Math.random() * 1_000);

  /**
   * @param cluster the node-redis cluster client (not connected yet; this class connects it).
   * @param refreshIntervalMs how often the layout is asked for again while a node is unreachable.
   * @param stallMs a command unanswered for this long means its node stopped answering (`Infinity`: never); keep it
   *   above the longest command a healthy node may take (`WAIT`'s timeout).
   * @param watch what tells a node stopped answering: the `commands` sent through this client, or, for a subscriber
   *   that sends none, a PING on each of its `subscriptions` connections every `stallMs`.
   * @param connectAttemptMs how long one attempt of the first connection may take before it starts over (see
   *   `connectOnce`); keep it above a node's connect timeout, so a root node that is unreachable is not what ends it.
   */
  constructor(
    readonly cluster: RedisCluster,
    private readonly refreshIntervalMs: number,
    private readonly stallMs = Infinity,
    private readonly watch: 'commands' | 'subscriptions' = 'commands',
    private readonly connectAttemptMs = stallMs,
  ) {
    super();
    cluster.on('node-error', (error: Error) => this.failed(error));
    // Discovery errors (no root node reachable) come as the cluster's own 'error'.
    cluster.on('error', (error: Error) => this.failed(error));
  }

  /** True once the layout is known and the connections to its masters are open (also during a node's outage). */
  get isReady(): boolean {
    return this.connected && !this.closed && this.cluster.isOpen;
  }

  /** True from {@link connect} until {@link close}. */
  get isOpen(): boolean {
    return !this.closed && this.starting !== undefined;
  }

  /**
   * Connects, and keeps trying (every `refreshIntervalMs`) while no root node answers, until {@link close}:
   * node-redis's cluster `connect` gives up after one round over the root nodes. Resolves once connected.
   */
  connect(): Promise<void> {
    return (this.starting ??= this.connectUntilClosed());
  }

  /**
   * Any command, routed to the master of its first key (a random node for a command without a key). A command whose
   * keys a slot migration has split between two masters (`TRYAGAIN`, refused before it ran) is sent again, after a
   * pause growing from 5 to 100 ms, for up to {@link MIGRATION_RETRY_MS}.
   */
  sendCommand(args: readonly string[]): Promise<unknown> {
    const send = () => this.watched(this.cluster.sendCommand(firstKeyOf(args), false, args as string[]));
    // One `catch` on the hot path, the retry loop only once refused.
    return send().catch((error: unknown) => {
      if (!isTryAgain(error)) throw error;
      return this.tryAgain(send, error);
    });
  }

  /**
   * Sends again a command refused with `TRYAGAIN`. redis-cli moves a slot's keys a few at a time (`MIGRATE`), then
   * gives the slot to its new master: until then a command naming several keys of the slot (every state-store script
   * names a token's state, lock and fencing keys, all in the token's slot) is refused whenever one of them has moved
   * and another not, or is missing where it is asked for. That lasts milliseconds per slot, and Redis's own advice is
   * to try again: an event on a token being moved no longer fails with `state_unavailable`.
   */
  private async tryAgain(send: () => Promise<unknown>, first: unknown): Promise<unknown> {
    const started = Date.now();
    let error = first;
    for (let pause = 5; !this.closed && Date.now() - started < MIGRATION_RETRY_MS; pause = Math.min(pause * 2, 100)) {
      await new Promise((resolve) => setTimeout(resolve, pause));
      try {
        return await send();
      } catch (again) {
        if (!isTryAgain(again)) throw again;
        error = again;
      }
    }
    throw error;
  }

  /**
   * Redis `WAIT` on the master of `key`, after the commands sent there before: how many replicas confirmed them
   * within `timeoutMs`. Sent on that master's connection itself, the one the key's commands went on: node-redis 6
   * routes a `WAIT` given to the cluster client by Redis's command tips (to every master, answering the smallest
   * count), so one master without a replica failed the saves of every token.
   */
  async waitForReplicas(key: string, replicas: number, timeoutMs: number): Promise<number> {
    const slot = calculateSlot(key);
    const master = (this.cluster as unknown as ClusterInternals)._slots.slots[slot]?.master;
    if (master === undefined) throw new CommandNotRoutedError(new Error(`slot ${slot} has no master`));
    const client = await this.cluster.nodeClient(master as never);
    return Number(await this.watched(client.sendCommand(['WAIT', String(replicas), String(timeoutMs)])));
  }

  /**
   * `PING`, in the shape of a single-node client's `ping()` (the live transport's health check calls it): here every
   * master of the layout must answer, within {@link PING_DEADLINE_MS} (see {@link pingMasters}). Without it, the
   * private per-node PING of the refresh answered this call with a `TypeError`, and `/_health` was 503 on every
   * cluster.
   */
  async ping(): Promise<string> {
    await this.pingMasters(PING_DEADLINE_MS);
    return 'PONG';
  }

  /**
   * PINGs the command connection of every master of the current layout: resolves when each answered within `ms`,
   * rejects naming a master that is not connected or did not answer. For health checks: a command reaches the one
   * master of its key, so a read of one key answers while another master (a third of the tokens, with three) is
   * frozen. Calls share the PING a connection has unanswered (a frozen master holds one, however many checks look),
   * and a master that left the layout (its replica took over) is no longer asked.
   */
  async pingMasters(ms: number): Promise<void> {
    const masters = (this.cluster as unknown as ClusterInternals).masters;
    if (masters.length === 0) throw new Error('no Redis Cluster master is known');
    await Promise.all(
      masters.map(async (master) => {
        const client = master.client;
        if (!client?.isReady) throw new Error(`the Redis Cluster master ${master.address} is not connected`);
        try {
          await withinDeadline(this.healthPing(client), ms);
        } catch (error) {
          if (error === DEADLINE_PASSED) {
            // A frozen master, as a stalled command shows one: the layout is asked for again until a replica took its
            // place (a worker that a load balancer took out of rotation sends no command that would start it).
            this.stalledPings.add(client);
            this.failed(new Error(`a Redis Cluster node did not answer a PING within ${ms} ms`));
          }
          const why = error === DEADLINE_PASSED ? `did not answer a PING within ${ms} ms` : `failed a PING: ${(error as Error)?.message ?? String(error)}`;
          throw new Error(`the Redis Cluster master ${master.address} ${why}`, { cause: error });
        }
      }),
    );
  }

  /**
   * The masters of the current layout (`host:port`) whose command connection is not ready or holds a health-check
   * PING unanswered (see {@link pingMasters}): what a health check that ran out of time names.
   */
  unansweredMasters(): string[] {
    const masters = (this.cluster as unknown as ClusterInternals).masters;
    return masters.filter(({ client }) => !client?.isReady || this.healthPings.has(client)).map((master) => master.address);
  }

  /** The health check's PING unanswered on `client`, or a new one. */
  private healthPing(client: NodeClient): Promise<unknown> {
    const pending = this.healthPings.get(client);
    if (pending) return pending;
    const pong = client.sendCommand(['PING']);
    this.healthPings.set(client, pong);
    const settled = () => {
      this.healthPings.delete(client);
      this.stalledPings.delete(client);
    };
    pong.then(settled, settled);
    return pong;
  }

  get(key: string): Promise<string | null> {
    return this.watched(this.cluster.get(key) as Promise<string | null>);
  }

  set(key: string, value: string, options?: { EX?: number }): Promise<unknown> {
    return this.watched(options?.EX !== undefined ? this.cluster.set(key, value, { expiration: { type: 'EX', value: options.EX } }) : this.cluster.set(key, value));
  }

  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown> {
    return this.watched(this.cluster.eval(script, options));
  }

  evalSha(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown> {
    return this.watched(this.cluster.evalSha(sha1, options));
  }

  /**
   * Classic PUBLISH: Redis Cluster forwards it to every node, so a subscriber on any node receives it, and any node
   * may take it. node-redis sends a keyless command to each node in turn, a frozen one included (a stopped process
   * whose replica may not fail over keeps its connections and answers nothing): one publish in three waited for the
   * thaw, and the live transport, seeing it unanswered, refused every publish until then. And two publishes that
   * entered the cluster on two nodes may reach a subscriber in either order (each node forwards on its own link):
   * the later one overtook the earlier, which receivers then dropped as a duplicate (by its sequence number).
   *
   * Here every PUBLISH goes to one node, so they arrive in the order sent, until that node leaves one unanswered past
   * `stallMs` or fails it: then that one is sent again, to the next node that holds none unanswered, and so on
   * (receivers drop a copy by its sequence number, should a frozen node deliver it after all), and the publishes
   * after it go where it was answered. Only when every node holds one does it wait like before.
   */
  publish(channel: string, message: string | Buffer): Promise<number> {
    if (this.stallMs === Infinity) return this.watched(this.cluster.publish(channel, message));
    return this.watched(this.publishOnAnsweringNode(channel, message));
  }

  private async publishOnAnsweringNode(channel: string, message: string | Buffer): Promise<number> {
    let node = this.publishNode();
    // The layout is not known yet, or every node holds a PUBLISH unanswered: node-redis picks, as before.
    if (node === undefined) return this.cluster.publish(channel, message);
    // Each node at most once (the caller's own timeout usually ends it before): the first that answers wins.
    for (const tried = new Set<string>(); ; ) {
      tried.add(node.address);
      const sent = this.publishOn(node, channel, message);
      try {
        return await withinDeadline(sent, this.stallMs);
      } catch (error) {
        if (this.closed) throw error;
        if (error === DEADLINE_PASSED) this.overdue(node.address, sent);
        const next = this.publishNode(tried);
        if (next === undefined) {
          if (error === DEADLINE_PASSED) return sent;
          throw error;
        }
        node = next;
      }
    }
  }

  /** PUBLISH on `node`'s connection (made on first use, as node-redis does for a keyless command). */
  private async publishOn(node: ClusterNode, channel: string, message: string | Buffer): Promise<number> {
    const client = await this.cluster.nodeClient(node as never);
    return Number(await client.sendCommand(['PUBLISH', channel, message]));
  }

  /**
   * The node the publishes go to (masters, then replicas, in the layout's order): the same one as last time, unless
   * it is one of `except` or holds a PUBLISH unanswered past `stallMs`, then the next that is neither; undefined when
   * there is none.
   */
  private publishNode(except?: ReadonlySet<string>): ClusterNode | undefined {
    const cluster = this.cluster as unknown as ClusterInternals;
    const nodes: ClusterNode[] = [...cluster.masters, ...cluster.replicas];
    for (let tried = 0; tried < nodes.length; tried++, this.publishTurn++) {
      const node = nodes[this.publishTurn % nodes.length]!;
      if (!except?.has(node.address) && !this.overduePublishes.has(node.address)) return node;
    }
    return undefined;
  }

  /** `address` holds `published` unanswered past `stallMs`: it is passed over until that settles. */
  private overdue(address: string, published: Promise<unknown>): void {
    this.overduePublishes.set(address, (this.overduePublishes.get(address) ?? 0) + 1);
    const settled = () => {
      const left = (this.overduePublishes.get(address) ?? 1) - 1;
      if (left > 0) this.overduePublishes.set(address, left);
      else this.overduePublishes.delete(address);
    };
    published.then(settled, settled);
  }

  /** Sharded SPUBLISH: reaches only the subscribers of the channel's slot (its master and replicas). */
  sPublish(channel: string, message: string | Buffer): Promise<number> {
    return this.watched(this.cluster.sPublish(channel, message));
  }

  /** `command`, counted as unanswered until it settles (see {@link stallMs}). */
  private watched<T>(sent: Promise<T>): Promise<T> {
    const command = sent.catch(notRouted);
    if (this.stallMs === Infinity || this.watch !== 'commands') return command;
    const id = ++this.sent;
    this.unanswered.set(id, Date.now());
    const answered = () => void this.unanswered.delete(id);
    command.then(answered, (error: unknown) => {
      answered();
      if (isUnroutable(error) && this.cluster.isOpen) this.failed(new Error(`a Redis Cluster command could not be routed (${(error as Error).message}); the layout is asked for again`));
    });
    this.stallTimer ??= setTimeout(() => this.checkStall(), this.stallMs).unref();
    return command;
  }

  /** A command waited `stallMs`: its node stopped answering (see the class comment); else look again later. */
  private checkStall(): void {
    this.stallTimer = undefined;
    const oldest = this.oldestUnanswered();
    if (oldest === undefined || this.closed) return;
    const waited = Date.now() - oldest;
    if (waited >= this.stallMs) this.failed(new Error(`a Redis Cluster node did not answer a command within ${this.stallMs} ms`));
    this.stallTimer = setTimeout(() => this.checkStall(), Math.max(this.stallMs - waited, this.refreshIntervalMs)).unref();
  }

  /** Every `stallMs`, PINGs each subscription connection (one round at a time); one unanswered in `stallMs` stalled. */
  private probeSubscriptions(): void {
    if (this.watch !== 'subscriptions' || this.stallMs === Infinity || this.stallTimer || this.closed) return;
    this.stallTimer = setTimeout(() => void this.probeRound(), this.stallMs).unref();
  }

  private async probeRound(): Promise<void> {
    const cluster = this.cluster as unknown as ClusterInternals;
    const connections = [...cluster.masters.map((master) => master.pubSub?.client), cluster.pubSubNode?.client].filter((client): client is NodeClient => client?.isReady === true);
    const outcomes = await Promise.allSettled(connections.map((client) => this.pingNode(client, this.stallMs)));
    const stalled = connections.filter((_, i) => outcomes[i]!.status === 'rejected' && (outcomes[i] as PromiseRejectedResult).reason === DEADLINE_PASSED);
    this.probeStalled = stalled.length > 0;
    if (this.probeStalled) this.failed(new Error(`a Redis Cluster node did not answer a PING on a subscription connection within ${this.stallMs} ms; that connection is reopened`));
    // Its master may be fine and stay master (only that connection's network path went silent: a NAT or firewall
    // that forgot the idle flow), so no new layout would ever replace it: it is dropped and connected again, and
    // node-redis subscribes its channels again before it is ready. A frozen master's replacement connection waits
    // like the old one did, until the layout drops that master (its subscriptions are then made on the new master).
    for (const client of stalled) {
      if (this.closed) break;
      // The classic channels' node: no layout change ever moves them (a frozen replica, or a master with no failover
      // stays where it is), and reconnecting to it waits like the old connection did. Another node carries them.
      if (client === (cluster._slots.pubSubNode?.client as unknown)) {
        void this.serially(undefined, () => this.moveClassicChannels());
        continue;
      }
      const node = client as unknown as ReopenableClient;
      node.destroy();
      node.connect().catch(() => undefined);
    }
    this.stallTimer = undefined;
    this.probeSubscriptions();
  }

  /**
   * The command connection of each master of the current layout that is ready, by its address (`host:port`): for
   * commands about one master's own data (`INFO memory`, `SCAN`), which routing by key cannot reach. Empty before the
   * layout is known.
   */
  masterConnections(): { address: string; sendCommand(args: string[]): Promise<unknown> }[] {
    const masters = (this.cluster as unknown as ClusterInternals).masters;
    return masters.flatMap(({ address, client }) => (client?.isReady ? [{ address, sendCommand: (args: string[]) => this.watched(client.sendCommand(args)) }] : []));
  }

  /** The address (`host:port`) of the master that serves `key`'s slot in the current layout, if known. */
  masterOf(key: string): string | undefined {
    return (this.cluster as unknown as ClusterInternals)._slots.slots[calculateSlot(key)]?.master.address;
  }

  /**
   * A sharded channel `<prefix>{<n>}` for each master of the current layout, by its address, whose slot that master
   * serves: a message sent there with {@link sPublish} reaches only that master's sharded subscribers, so a health
   * check that sends one on each hears every master's subscription connection. A master keeps its channel while it
   * still serves the channel's slot; a channel no longer returned (its slot moved, its master left the layout) is
   * the caller's to unsubscribe. Empty before the layout is known.
   */
  channelPerMaster(prefix: string): Map<string, string> {
    const cluster = this.cluster as unknown as ClusterInternals;
    const slots = cluster._slots.slots;
    const servedBy = (channel: string) => slots[calculateSlot(channel)]?.master.address;
    const channels = new Map<string, string>();
    for (const [address, channel] of this.masterChannels) if (servedBy(channel) === address) channels.set(address, channel);
    const wanted = new Set(cluster.masters.map((master) => master.address).filter((address) => !channels.has(address)));
    // Random hash tags land on a master in proportion to its slots: a few tries each, more for a master that serves
    // few slots; bounded, so a master that serves none (being emptied) is not looked for forever.
    for (let tries = 0; wanted.size > 0 && tries < 8 * SLOTS; tries++) {
      const channel = `${prefix}{${++this.channelSerial}}`;
      const address = servedBy(channel);
      if (address !== undefined && wanted.delete(address)) channels.set(address, channel);
    }
    this.masterChannels.clear();
    for (const [address, channel] of channels) this.masterChannels.set(address, channel);
    return channels;
  }

  private oldestUnanswered(): number | undefined {
    for (const sentAt of this.unanswered.values()) return sentAt;
    return undefined;
  }

  // Subscriptions wait for the first connection (node-redis routes them by the layout it learns then) and run one
  // at a time per connection (see `serially`).
  subscribe(channel: string, listener: (message: string, channel: string) => unknown): Promise<void> {
    return this.serially(undefined, () => this.classicWithinStall(() => this.cluster.subscribe(channel, listener)));
  }

  /**
   * A classic (un)subscription, done within `stallMs` or made again elsewhere. node-redis sends every classic one
   * to one node it picked at random (any master or replica) and waits for its answer without a deadline: a node
   * frozen with no failover (a stopped process, a paused VM, a replica nobody replaces) held the live updates'
   * subscription, and every later classic one (they run one at a time), until it woke. So one not done in time moves
   * the classic channels to another node ({@link moveClassicChannels}) and is sent again; one that failed because its
   * connection was moved under it (by the subscription probe) is sent again too.
   */
  private async classicWithinStall(operation: () => Promise<void>): Promise<void> {
    if (this.stallMs === Infinity) return operation();
    for (;;) {
      const before = this.classicNode();
      try {
        return await withinDeadline(operation(), this.stallMs);
      } catch (error) {
        if (this.closed) throw error;
        if (error === DEADLINE_PASSED) {
          this.failed(new Error(`a Redis Cluster node did not answer a SUBSCRIBE within ${this.stallMs} ms; the classic channels move to another node`));
          await this.moveClassicChannels();
        } else if (before === undefined || this.classicNode() === before) {
          throw error;
        }
      }
    }
  }

  /** The connection node-redis carries the classic subscriptions on, if it made one. */
  private classicNode(): object | undefined {
    return (this.cluster as unknown as ClusterInternals)._slots.pubSubNode?.client;
  }

  /**
   * Drops the classic subscriptions' connection and subscribes its channels again; node-redis then picks another
   * node at random (the same one again, at times: then this starts over once `stallMs` passed). Tried until done or
   * closed: those channels (the live updates') hear nothing until then.
   */
  private async moveClassicChannels(): Promise<void> {
    const carried = new Map<string, ChannelListeners>();
    while (!this.closed) {
      const slots = (this.cluster as unknown as ClusterInternals)._slots;
      const node = slots.pubSubNode;
      if (node) {
        // Listeners are node-redis's once their SUBSCRIBE was answered: those still carried were not, on the last node.
        for (const [channel, { buffers, strings }] of node.client.getPubSubListeners('CHANNELS')) {
          const kept = carried.get(channel) ?? { buffers: new Set(), strings: new Set() };
          for (const listener of buffers) kept.buffers.add(listener);
          for (const listener of strings) kept.strings.add(listener);
          carried.set(channel, kept);
        }
        slots.pubSubNode = undefined;
        // Already closed by node-redis itself (the node failed over meanwhile): destroy() throws "The client is
        // closed", and the channels carried above must still be subscribed again.
        if (node.client.isOpen) node.client.destroy();
      }
      if (carried.size === 0) return;
      const cluster = this.cluster as unknown as Record<'subscribe', ShardedCall>;
      const again = [...carried].flatMap(([channel, { buffers, strings }]) => [
        ...[...buffers].map((listener) => cluster.subscribe(channel, listener, true)),
        ...[...strings].map((listener) => cluster.subscribe(channel, listener)),
      ]);
      try {
        await withinDeadline(Promise.all(again), this.stallMs);
        return;
      } catch {
        // A node that is frozen too, or down: pick again after a pause.
        await new Promise((resolve) => setTimeout(resolve, this.refreshIntervalMs).unref());
      }
    }
  }

  unsubscribe(channel: string, listener: (message: string, channel: string) => unknown): Promise<void> {
    return this.serially(undefined, () => this.classicWithinStall(() => this.cluster.unsubscribe(channel, listener as never)));
  }

  /**
   * A sharded subscription, on the master serving `channel`'s slot. It resolves once that master confirmed it, which
   * a master frozen with no failover does only when it wakes; it is kept until then (see {@link untilSubscribed}).
   */
  sSubscribe(channel: string, listener: (message: string, channel: string) => unknown): Promise<void> {
    return this.serially(channel, () => this.untilSubscribed(() => this.cluster.sSubscribe(channel, listener)));
  }

  sUnsubscribe(channel: string, listener: (message: string, channel: string) => unknown): Promise<void> {
    return this.serially(channel, () => this.cluster.sUnsubscribe(channel, listener));
  }

  /**
   * Runs a sharded subscription, and runs it again (after `refreshIntervalMs`) when the connection it was sent on is
   * dropped before its master answered: node-redis then forgets it (a listener is kept only once confirmed), while
   * the connection, opened again, subscribes only the channels confirmed before. The subscription probe drops the
   * connection of a master that stops answering (see `probeRound`): with no failover, the subscription sent first
   * after the freeze was lost that way for good (the Socket.IO room of a tab that connected then heard no other
   * worker after the thaw), while those sent after it waited in the new connection's queue and were made at the thaw.
   * Sent again, it waits there too. It ends when Redis refuses it (an error reply) or the client closes; an
   * unsubscription of the channel waits behind it (see `serially`), so a late success is undone in order.
   */
  private async untilSubscribed(subscribe: () => Promise<void>): Promise<void> {
    for (;;) {
      try {
        return await subscribe();
      } catch (error) {
        // Closed here, or by another user of the node-redis client: nothing will open it again.
        if (this.closed || !this.cluster.isOpen || !isConnectionLost(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, this.refreshIntervalMs).unref());
        if (this.closed) throw error;
      }
    }
  }

  /**
   * The subscribing side of Socket.IO's sharded Redis adapter (`createShardedAdapter(pub, sub)`): what it calls on
   * its `subClient` with node-redis (`sSubscribe` in buffer mode, `sUnsubscribe`), one at a time like ours. The
   * adapter does not handle the promises of these calls: a failure is dropped here instead of ending the process.
   */
  adapterSubscriber(onFailure: (error: Error) => void): { sSubscribe: ShardedCall; sUnsubscribe: ShardedCall } {
    const cluster = this.cluster as unknown as Record<'sSubscribe' | 'sUnsubscribe', ShardedCall>;
    return {
      sSubscribe: (channel, listener, bufferMode) => this.serially(channel, () => this.untilSubscribed(() => cluster.sSubscribe(channel, listener, bufferMode)), channel).catch(onFailure),
      // A room left while its subscription still waits its turn (behind a frozen master's) takes it out of the queue
      // instead of queueing its unsubscription too. The adapter subscribes a room's channel when the room is created
      // and unsubscribes it when it is deleted, one after the other: what is queued for the channel before that
      // subscription (its previous unsubscription, if any) still runs. So the queue of a master frozen with no failover
      // holds one entry per room that exists, not two per tab that came and went (3.3 KB each, until the thaw, when
      // each pair would cost two round trips).
      sUnsubscribe: (channel, listener, bufferMode) =>
        this.connect()
          // Queued in the same turn as a subscription would be (not through `serially`, one turn later): a room created
          // again right after would otherwise be subscribed before this, and then left unsubscribed.
          .then(() => (this.cancelQueuedRoom(channel) ? undefined : this.enqueue(channel, () => cluster.sUnsubscribe(channel, listener, bufferMode))))
          .catch(() => undefined),
    };
  }

  /** Takes the room subscription of `channel` out of its queue if it has not started: true if it was there. */
  private cancelQueuedRoom(channel: string): boolean {
    const queued = this.queuedRooms.get(channel);
    if (!queued) return false;
    this.queuedRooms.delete(channel);
    queued.queue.waiting.delete(queued.entry);
    queued.entry.resolve(undefined);
    return true;
  }

  /**
   * Runs a (un)subscription after the ones before it on the same connection: the master serving the sharded
   * `channel`'s slot, or the classic channels' node (`channel` undefined). node-redis closes a node's subscriber
   * connection when its last channel is left; two of these at once for one node end in "The client is closed" (the
   * second closes it again), and a subscription sent while the connection is being closed is lost with it. One queue
   * per master, not one for all: a master that is frozen when its first channel is subscribed holds that subscription
   * until it wakes or a replica takes its slots, and with one queue every later subscription, to any master (the
   * adapter's rooms, the health probe's channels, `rx:resync`), waited behind it.
   */
  private serially<T>(channel: string | undefined, operation: () => Promise<T>, room?: string): Promise<T> {
    // Every call waits for the same first connection, so they resume (and queue) in the order they were made.
    return this.connect().then(() => this.enqueue(channel, operation, room));
  }

  /** Queues `operation` on its connection now (see {@link serially}); `room`: an adapter room's subscription. */
  private enqueue<T>(channel: string | undefined, operation: () => Promise<T>, room?: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const key = channel === undefined ? CLASSIC_CHANNELS : (this.masterOf(channel) ?? CLASSIC_CHANNELS);
      let queue = this.pubSubQueues.get(key);
      if (!queue) this.pubSubQueues.set(key, (queue = { running: false, waiting: new Set() }));
      const entry: QueuedPubSub = { run: operation, resolve: resolve as (value: unknown) => void, reject, room };
      queue.waiting.add(entry);
      if (room !== undefined) this.queuedRooms.set(room, { queue, entry });
      this.runNext(key, queue);
    });
  }

  /** Starts the first (un)subscription waiting in `queue`, unless one runs; forgets the queue once empty. */
  private runNext(key: string, queue: PubSubQueue): void {
    if (queue.running) return;
    const entry = queue.waiting.values().next().value;
    if (entry === undefined) {
      if (this.pubSubQueues.get(key) === queue) this.pubSubQueues.delete(key);
      return;
    }
    queue.waiting.delete(entry);
    if (entry.room !== undefined && this.queuedRooms.get(entry.room)?.entry === entry) this.queuedRooms.delete(entry.room);
    queue.running = true;
    void Promise.resolve()
      .then(entry.run)
      .then(entry.resolve, entry.reject)
      .finally(() => {
        queue.running = false;
        this.runNext(key, queue);
      });
  }

  /** Keyspace notifications are per node: a pattern subscription on one node misses the others' events. */
  pSubscribe(): never {
    throw new Error('Pattern subscriptions are not supported on a Redis Cluster: keyspace notifications stay on the node that emitted them');
  }

  /** Closes every node connection (gracefully). */
  async close(): Promise<void> {
    this.stop();
    await this.starting?.catch(() => undefined);
    if (this.cluster.isOpen) await this.cluster.close();
  }

  /** Drops every node connection at once. */
  destroy(): void {
    this.stop();
    if (this.cluster.isOpen) this.cluster.destroy();
  }

  private stop(): void {
    this.closed = true;
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  private async connectUntilClosed(): Promise<void> {
    for (;;) {
      if (this.closed) throw new Error('Redis Cluster connection closed');
      try {
        // Another user of the same node-redis client (@keyv/redis connects a closed client on use) may have
        // connected it between two of our attempts: then wait for its layout instead of failing "already open".
        if (this.cluster.isOpen) await this.untilLayoutKnown();
        else await this.connectOnce();
        this.connected = true;
        if (this.closed) return;
        this.probeSubscriptions();
        this.down = undefined;
        this.emit('ready');
        return;
      } catch (error) {
        if (this.closed) throw error;
        this.emit('error', error instanceof Error ? error : new Error(String(error)));
        await new Promise((resolve) => setTimeout(resolve, this.refreshIntervalMs).unref());
      }
    }
  }

  /**
   * One node-redis `connect`, given up after `connectAttemptMs`. It asks a root node for the layout, then (for commands)
   * connects to every master of it and waits for them all, without a deadline: a dead master's connection is tried
   * again and again, and a frozen one (its kernel still accepts) never answers its handshake. So a worker started
   * while a master was dead or frozen waited for it for good, even once a replica had taken its place. Given up, its
   * connections are dropped, and the next attempt asks again (a random root node, and the layout as it is then).
   */
  private async connectOnce(): Promise<void> {
    const connecting = this.cluster.connect();
    if (this.connectAttemptMs === Infinity) {
      await connecting;
      return;
    }
    try {
      await withinDeadline(connecting, this.connectAttemptMs);
    } catch (error) {
      if (error !== DEADLINE_PASSED) throw error;
      this.cluster.destroy();
      // The dropped connections fail the attempt under way; wait for it (bounded: a discovery connection, which
      // node-redis keeps to itself, may still wait for the frozen node), so that it does not close the next one.
      await withinDeadline(connecting, this.refreshIntervalMs).catch(() => undefined);
      throw new Error(`the Redis Cluster connection did not complete within ${this.connectAttemptMs} ms (a node accepts connections and answers nothing); trying again`, { cause: error });
    }
  }

  /** Resolves once the cluster, opened by someone else, knows its masters; rejects when it closed meanwhile. */
  private async untilLayoutKnown(): Promise<void> {
    while ((this.cluster as unknown as ClusterInternals).masters.length === 0) {
      if (!this.cluster.isOpen) throw new Error('Redis Cluster connection failed');
      await new Promise((resolve) => setTimeout(resolve, 20).unref());
    }
  }

  private failed(error: Error): void {
    if (this.closed || !this.connected) return;
    if (this.down === undefined) {
      this.down = error.message;
      this.emit('error', error);
    }
    this.scheduleRefresh();
  }

  private scheduleRefresh(): void {
    if (this.refreshTimer || this.closed) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.refresh().catch(() => this.scheduleRefresh());
    }, this.refreshIntervalMs);
    this.refreshTimer.unref();
  }

  /**
   * Asks for the layout again (of a node that answers); done once every connection in use is ready and none is
   * stalled (see `stallMs`), else tried again later.
   */
  private async refresh(): Promise<void> {
    if (this.closed) return;
    const cluster = this.cluster as unknown as ClusterInternals;
    const sharded = new Map<string, Map<string, ChannelListeners>>();
    for (const master of cluster.masters) {
      const listeners = master.pubSub?.client.getPubSubListeners('SHARDED');
      if (listeners && listeners.size > 0) sharded.set(master.address, copyListeners(listeners));
    }
    const startWith = (await this.answeringNode(cluster)) ?? cluster.masters.find((master) => master.client && !master.client.isReady)?.client;
    // node-redis asks `startWith`, then each root node, for the layout (discovery errors come as 'error' events). It
    // waits for the answer without a deadline, and every later rediscovery (on `MOVED`) waits for that one: it must
    // never be a frozen node, hence the PING first. A node that is down fails at once.
    // A request that failed (every node asked failed to give a layout) left the layout as it was: not done.
    const rediscovered = startWith ? await cluster._slots.rediscover(startWith).then(() => true, () => false) : undefined;
    if (this.closed) return;
    const reopened = this.reopenClosedMasters(cluster);
    const masters = new Set(cluster.masters.map((master) => master.address));
    for (const [address, listeners] of sharded) {
      // That node left the layout (a replica took its slots): its subscriptions were dropped with its connection.
      if (!masters.has(address)) this.resubscribe(listeners);
    }
    const oldest = this.oldestUnanswered();
    const healthy =
      rediscovered !== false &&
      !reopened &&
      servesEverySlot(cluster._slots.slots) &&
      !this.probeStalled &&
      (oldest === undefined || Date.now() - oldest < this.stallMs) &&
      cluster.masters.length > 0 &&
      cluster.masters.every((master) => (master.client?.isReady ?? true) && (master.pubSub?.client.isReady ?? true) && !(master.client && this.stalledPings.has(master.client))) &&
      (cluster.pubSubNode?.client.isReady ?? true);
    if (!healthy) {
      this.scheduleRefresh();
      return;
    }
    if (this.down !== undefined) {
      this.down = undefined;
      this.emit('ready');
    }
  }

  /**
   * Opens again the command connection of each master of the layout whose connection was closed (not down and
   * reconnecting: closed, so node-redis would hand it to every command of the master's slots, each refused with "The
   * client is closed", for as long as the master stays in the layout). True when there was one.
   */
  private reopenClosedMasters(cluster: ClusterInternals): boolean {
    // Closed as a whole (by another user of the node-redis client): nothing is opened again.
    if (!this.cluster.isOpen) return false;
    let reopened = false;
    for (const master of cluster.masters) {
      if (!master.client || master.client.isOpen) continue;
      // node-redis makes a new connection for a node without one on its next use; make it now.
      master.client = undefined;
      this.cluster.nodeClient(master as never).catch(() => undefined);
      reopened = true;
    }
    return reopened;
  }

  /**
   * A connection to a master that answers a PING within `refreshIntervalMs` (the first to answer), if any: a command
   * connection, or a subscription connection (a subscriber may have no other; Redis answers PING in subscribed mode).
   */
  private async answeringNode(cluster: ClusterInternals): Promise<NodeClient | undefined> {
    const ready = cluster.masters.flatMap((master) => [master.client, master.pubSub?.client].filter((client): client is NodeClient => client?.isReady === true));
    if (ready.length === 0) return undefined;
    return Promise.any(ready.map(async (client) => (await this.pingNode(client, this.refreshIntervalMs), client))).catch(() => undefined);
  }

  /**
   * PING on `client` within `ms`; rejects with DEADLINE_PASSED at once while an earlier PING there is unanswered, so
   * that a frozen node's connection holds one PING, not one per look.
   */
  private pingNode(client: NodeClient, ms: number): Promise<unknown> {
    if (this.pinging.has(client)) return Promise.reject(DEADLINE_PASSED);
    this.pinging.add(client);
    const pong = client.sendCommand(['PING']);
    pong.then(
      () => this.pinging.delete(client),
      () => this.pinging.delete(client),
    );
    return withinDeadline(pong, ms);
  }

  /** Subscribes each listener again, where the channel's slot now lives (a failure is retried by the next refresh). */
  private resubscribe(listeners: Map<string, ChannelListeners>): void {
    const cluster = this.cluster as unknown as Record<'sSubscribe', ShardedCall>;
    for (const [channel, { buffers, strings }] of listeners) {
      for (const listener of buffers) this.serially(channel, () => this.untilSubscribed(() => cluster.sSubscribe(channel, listener, true))).catch(() => this.scheduleRefresh());
      for (const listener of strings) this.serially(channel, () => this.untilSubscribed(() => cluster.sSubscribe(channel, listener))).catch(() => this.scheduleRefresh());
    }
  }
}

/** An (un)subscription waiting for its turn on its connection (see `RedisClusterClient.serially`). */
interface QueuedPubSub {
  run(): Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  /** The channel of a Socket.IO adapter room's subscription, which the room's deletion may cancel while it waits. */
  room?: string;
}

/** The (un)subscriptions of one connection: one runs at a time, the others wait in the order they came. */
interface PubSubQueue {
  running: boolean;
  waiting: Set<QueuedPubSub>;
}

/** node-redis's errors for a command whose connection was dropped, or closed, before it was answered. */
const CONNECTION_LOST = new Set(['Disconnects client', 'The client is closed', 'Socket closed unexpectedly']);

/** A command that failed because its connection went away, not because Redis refused it. */
function isConnectionLost(error: unknown): boolean {
  return error instanceof Error && CONNECTION_LOST.has(error.message);
}

/**
 * A command node-redis could not route, so nothing was sent: its slot has no master in the layout node-redis holds
 * ({@link CommandNotRoutedError}, from node-redis's `TypeError` reading the slot's entry), or the master's connection object was closed (not merely down: a down
 * connection reports its failures as node errors, which start a refresh already).
 */
function isUnroutable(error: unknown): boolean {
  return error instanceof CommandNotRoutedError || (error instanceof Error && error.constructor.name === 'ClientClosedError');
}

/** Rethrows node-redis's `TypeError` for a slot without a master as what it means: nothing was sent. */
function notRouted(error: unknown): never {
  throw error instanceof TypeError ? new CommandNotRoutedError(error) : error;
}

/** Every slot has a master in node-redis's layout. */
function servesEverySlot(slots: readonly ({ master: unknown } | undefined)[]): boolean {
  for (let slot = 0; slot < SLOTS; slot++) if (!slots[slot]?.master) return false;
  return true;
}

/** A command refused because a slot migration split its keys between two masters (nothing ran). */
function isTryAgain(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('TRYAGAIN ');
}

/** The key a command is routed by: the first key of a script call, else its first argument. */
export function firstKeyOf(args: readonly string[]): string | undefined {
  const name = args[0]?.toUpperCase();
  if (name !== undefined && KEYS_AFTER_COUNT.has(name)) return args[2] !== undefined && args[2] !== '0' ? args[3] : undefined;
  return args[1];
}

function copyListeners(listeners: Map<string, ChannelListeners>): Map<string, ChannelListeners> {
  const copy = new Map<string, ChannelListeners>();
  for (const [channel, { buffers, strings }] of listeners) copy.set(channel, { buffers: new Set(buffers), strings: new Set(strings) });
  return copy;
}
