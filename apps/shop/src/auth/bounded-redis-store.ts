import { RedisStore } from 'connect-redis';

// connect-redis's own callback type: express-session hands callbacks typed for its session data.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Callback = (error?: unknown, data?: any) => unknown;
type RedisStoreOptions = ConstructorParameters<typeof RedisStore>[0];

/**
 * connect-redis with a deadline on every session read and write. A frozen Redis (a paused VM, a long fork stall, a
 * network black hole) keeps its connection open and answers nothing, and neither connect-redis nor node-redis
 * bounds a command once it was written (node-redis' `commandOptions.timeout` only covers the wait to be sent): every
 * request and event of a logged-in user waited for the thaw, however long. Here a command unanswered after
 * `timeoutMs` fails the request (the session middleware passes the error on), and while one is still unanswered
 * past its deadline the next ones fail at once, sent nothing: a frozen Redis costs one wait, not one per request.
 * Once Redis answers the late command (or the connection drops, which fails it), commands are sent again.
 */
export class BoundedRedisStore extends RedisStore {
  /** Commands that outlived their deadline and are still unanswered. */
  private late = 0;

  constructor(
    options: RedisStoreOptions,
    private readonly timeoutMs: number,
  ) {
    super(options);
  }

  override get(sid: string, cb?: Callback): Promise<unknown> {
    return this.bounded((done) => super.get(sid, done), cb);
  }

  override set(sid: string, sess: Parameters<RedisStore['set']>[1], cb?: Callback): Promise<unknown> {
    return this.bounded((done) => super.set(sid, sess, done), cb);
  }

  override touch(sid: string, sess: Parameters<RedisStore['touch']>[1], cb?: Callback): Promise<unknown> {
    return this.bounded((done) => super.touch(sid, sess, done), cb);
  }

  override destroy(sid: string, cb?: Callback): Promise<unknown> {
    return this.bounded((done) => super.destroy(sid, done), cb);
  }

  /** Runs `command`, calling `cb` with its answer or, past `timeoutMs`, with an error (the late answer is dropped). */
  private bounded(command: (done: Callback) => Promise<unknown>, cb: Callback | undefined): Promise<unknown> {
    if (this.late > 0) {
      return Promise.resolve(cb?.(new Error('The session store (Redis) is not answering; try again.')));
    }
    return new Promise((resolve) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        this.late++;
        resolve(cb?.(new Error(`The session store (Redis) did not answer within ${this.timeoutMs} ms; try again.`)));
      }, this.timeoutMs);
      void command((error, data) => {
        if (timedOut) {
          this.late--;
          return;
        }
        clearTimeout(timer);
        resolve(cb?.(error, data));
      });
    });
  }
}
