import { SAVE_SCRIPT } from './redis-lock.scripts.js';

/** One token's fenced save, waiting in a {@link RedisSaveQueue} or sent by it. */
export interface QueuedSave {
  /** The token's lock key and state key: the save script's KEYS for this save. */
  readonly lock: string;
  readonly state: string;
  /** This save's own arguments of the save script: its header (see `saveHeader`), then deleted names and field/value pairs. */
  args: string[];
  /** True once its caller stopped waiting (answered, failed, or past its deadline): a save still queued is dropped. */
  readonly settled: boolean;
  /** The script's answer for this save: 1 written, 0 lock lost, 2 no stored state (see `SAVE_SCRIPT`). */
  answered(written: unknown): void;
  /** The command carrying it failed after it was sent: Redis may have applied it. */
  failed(error: unknown): void;
  /** The connection was down when its turn came: nothing was sent. */
  notSent(): void;
}

/** The connection a {@link RedisSaveQueue} writes to: one node-redis client, which answers in order. */
export interface SaveConnection {
  readonly isReady: boolean;
  sendCommand(args: string[]): Promise<unknown>;
}

/** Saves sent in one script call at most: one call runs in Redis without a break, so it stays short. */
const MAX_SAVES_PER_CALL = 64;

/** The server does not know a script sent by its SHA1 (first use, or after a restart or SCRIPT FLUSH). */
const isNoScript = (error: unknown) => error instanceof Error && error.message.startsWith('NOSCRIPT');

/**
 * Group commit of the state saves on one Redis connection. While a save command is in flight, saves of other
 * tokens wait, and go together in the next command once it is answered: one call of the save script for up to
 * {@link MAX_SAVES_PER_CALL} saves, each still fenced by its own lock and answered on its own.
 *
 * Why: under load the script call itself (Redis's Lua set-up, node-redis's command and reply machinery) costs more
 * than the writes; sharing it cuts Redis's CPU per event, which is what limits how many workers one Redis serves.
 * Waiting costs no liveness: the connection answers in order, so a save sent sooner could not be answered sooner
 * than the command in flight. A lone save (one tab, a quiet worker) goes at once, as before.
 *
 * Only for a single Redis: on a Redis Cluster each token's keys live in their own slot, so saves go one by one.
 */
export class RedisSaveQueue {
  /**
   * Saves waiting for the command in flight, in arrival order. A set, so that a save whose caller gave up leaves at
   * once ({@link withdraw}): while Redis is frozen the command in flight is never answered, and each waiting save
   * holds its whole state.
   */
  private waiting = new Set<QueuedSave>();
  /** Save commands sent and not answered yet. */
  private inFlight = 0;

  /** @param connection the command connection, or `undefined` once the store is closed. */
  constructor(private readonly connection: () => SaveConnection | undefined) {}

  /** Sends `save` now, or with the next group when a save command is in flight. */
  submit(save: QueuedSave): void {
    if (this.inFlight > 0) this.waiting.add(save);
    else this.send([save]);
  }

  /**
   * Forgets a waiting save whose caller stopped waiting (its time limit passed): it will not be sent. True when it
   * was waiting, so never sent in this attempt.
   */
  withdraw(save: QueuedSave): boolean {
    return this.waiting.delete(save);
  }

  /** Saves waiting for the command in flight (for tests and metrics). */
  get queued(): number {
    return this.waiting.size;
  }

  private send(saves: QueuedSave[]): void {
    const client = this.connection();
    if (!client?.isReady) {
      for (const save of saves) save.notSent();
      return;
    }
    for (let start = 0; start < saves.length; start += MAX_SAVES_PER_CALL) {
      this.call(client, saves.length <= MAX_SAVES_PER_CALL ? saves : saves.slice(start, start + MAX_SAVES_PER_CALL));
    }
  }

  private call(client: SaveConnection, saves: QueuedSave[]): void {
    const command = saveCommand(saves);
    this.inFlight++;
    let sent: Promise<unknown>;
    try {
      sent = client.sendCommand(command);
    } catch (error) {
      // Not expected from node-redis (it rejects), but a throw here must not leave the queue waiting forever.
      sent = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const answered = (answers: unknown) => {
      this.answered();
      if (saves.length === 1) saves[0]!.answered(answers);
      else for (let i = 0; i < saves.length; i++) saves[i]!.answered(Array.isArray(answers) ? answers[i] : undefined);
    };
    const failed = (error: unknown) => {
      if (isNoScript(error) && command[0] === 'EVALSHA') {
        // The server does not know the script (first use, or after a restart): send its source once.
        if (!client.isReady) {
          this.answered();
          for (const save of saves) save.notSent();
          return;
        }
        command[0] = 'EVAL';
        command[1] = SAVE_SCRIPT.source;
        client.sendCommand(command).then(answered, failed);
        return;
      }
      this.answered();
      for (const save of saves) save.failed(error);
    };
    sent.then(answered, failed);
  }

  /** A command was answered: once none is in flight, the saves that waited go, minus those whose callers gave up. */
  private answered(): void {
    if (--this.inFlight > 0 || this.waiting.size === 0) return;
    const live: QueuedSave[] = [];
    for (const save of this.waiting) if (!save.settled) live.push(save);
    this.waiting.clear();
    if (live.length > 0) this.send(live);
  }
}

/** The save script's EVALSHA for `saves`: their keys in pairs, then each one's arguments (each begins with its header). */
export function saveCommand(saves: readonly Pick<QueuedSave, 'lock' | 'state' | 'args'>[]): string[] {
  let size = 3 + saves.length * 2;
  for (const save of saves) size += save.args.length;
  // Filled by index at its final size: no growing of the array, which a command of many saves would do several times.
  const command = new Array<string>(size);
  command[0] = 'EVALSHA';
  command[1] = SAVE_SCRIPT.sha1;
  command[2] = String(saves.length * 2);
  let at = 3;
  for (const save of saves) {
    command[at++] = save.lock;
    command[at++] = save.state;
  }
  for (const save of saves) for (const arg of save.args) command[at++] = arg;
  return command;
}
