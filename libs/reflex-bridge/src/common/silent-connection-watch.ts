import { DEADLINE_PASSED, withinDeadline } from './deadline.js';
import { isQueueFull } from './fail-fast-redis.options.js';

/** How long a PING may still be answered once `confirm` found Redis awake (see `answeredLate`). */
const LATE_ANSWER_GRACE_MS = 1_000;

/** What {@link SilentConnectionWatch} needs of a node-redis client. */
export interface WatchedRedisClient {
  readonly isReady: boolean;
  sendCommand(args: string[]): Promise<unknown>;
}

/**
 * Notices a Redis connection whose network path went silent. A subscriber connection sends nothing of its own, so
 * when its packets are dropped both ways and nothing is reset (a partition, a NAT or firewall that forgot the idle
 * flow), node-redis sees no error and the connection stays "ready" while it hears no message, until the kernel gives
 * up on the TCP connection many minutes later. node-redis's own `pingInterval` does not help: it waits for the
 * answer without a deadline. Here one PING at a time, every `intervalMs` while the connection is ready, must be
 * answered within `intervalMs` (Redis answers PING in subscribed mode too); when it is not, `onSilent` is called
 * once for that PING, and the owner replaces the connection. Cost: one PING per interval.
 *
 * A command connection is watched the same way, with `confirm`: from one connection, a Redis that stopped answering
 * everyone (a paused process, a frozen VM) looks just like a silent path, and replacing the connection then would
 * only fail the commands Redis will answer when it wakes (callers already refuse at once meanwhile, see
 * `StallCircuit` and `maxPendingCommands`). `confirm` asks Redis another way (a fresh connection) and `onSilent` is
 * called only when Redis answers there. A PING refused because `maxPendingCommands` commands already wait counts as
 * unanswered: on a busy worker whose connection went silent, that is how the PING ends.
 */
export class SilentConnectionWatch {
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly client: WatchedRedisClient,
    private readonly intervalMs: number,
    private readonly onSilent: (reason: string) => void,
    private readonly confirm?: () => Promise<boolean>,
  ) {
    this.schedule();
  }

  /** Stops watching (the owner closes the connection). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    // unref: the watch never keeps a process alive on its own.
    this.timer = setTimeout(() => void this.probe(), this.intervalMs).unref();
  }

  private async probe(): Promise<void> {
    // A connection that is not ready is being (re)connected by node-redis, which has its own timeouts for that.
    if (this.client.isReady) {
      const ping = this.client.sendCommand(['PING']);
      try {
        await withinDeadline(ping, this.intervalMs);
      } catch (error) {
        // Any other failure (the connection dropped meanwhile) is node-redis's to handle: it reconnects by itself.
        const unanswered = error === DEADLINE_PASSED || (this.confirm !== undefined && isQueueFull(error));
        if (unanswered && !this.stopped && this.client.isReady && (await this.confirmed()) && !(await this.answeredLate(ping))) {
          this.onSilent(`no answer to a PING within ${this.intervalMs} ms${this.confirm ? ', while Redis answered a new connection' : ''}`);
        }
      }
    }
    this.schedule();
  }

  /**
   * After `confirm` said Redis answers a new connection: whether the PING is answered now all the same. A Redis that
   * was frozen (paused, a stalled VM) and wakes while `confirm` asks answers both connections at once, in either order:
   * the connection was never silent, and replacing it would fail the commands Redis is answering now. A silent path
   * answers nothing: it costs at most {@link LATE_ANSWER_GRACE_MS} more before the connection is replaced.
   */
  private answeredLate(ping: Promise<unknown>): Promise<boolean> {
    if (!this.confirm) return Promise.resolve(false);
    return withinDeadline(ping, Math.min(this.intervalMs, LATE_ANSWER_GRACE_MS)).then(
      () => true,
      () => false,
    );
  }

  /** True when there is no `confirm`, or it says so (its failure: no). */
  private async confirmed(): Promise<boolean> {
    if (!this.confirm) return true;
    const silent = await this.confirm().catch(() => false);
    return silent && !this.stopped && this.client.isReady;
  }
}
