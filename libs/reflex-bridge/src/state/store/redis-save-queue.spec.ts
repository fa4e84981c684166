import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { SAVE_SCRIPT, saveHeader } from './redis-lock.scripts.js';
import { RedisSaveQueue, saveCommand, type QueuedSave, type SaveConnection } from './redis-save-queue.js';

/** A connection whose commands stay in flight until the test answers them, oldest first (as Redis does). */
class ScriptedConnection implements SaveConnection {
  isReady = true;
  readonly sent: string[][] = [];
  private readonly inFlight: { command: string[]; resolve: (value: unknown) => void; reject: (error: unknown) => void }[] = [];

  sendCommand(command: string[]): Promise<unknown> {
    this.sent.push([...command]);
    return new Promise((resolve, reject) => this.inFlight.push({ command, resolve, reject }));
  }

  get pending(): number {
    return this.inFlight.length;
  }

  /** Answers the oldest command: `answer(lockValues)` gives the reply from its saves' lock values. */
  answerOldest(answer: (locks: string[]) => unknown): void {
    const { command, resolve, reject } = this.inFlight.shift()!;
    const locks = savesIn(command).map((save) => idOf(save.args));
    let reply = answer(locks);
    // The script answers a lone save alone, not in a list (see SAVE_SCRIPT).
    if (locks.length === 1 && Array.isArray(reply)) reply = reply[0];
    if (reply instanceof Error) reject(reply);
    else resolve(reply);
  }
}

/** The saves a save-script command carries: its keys in pairs, then each save's arguments, counted by its header. */
function savesIn(command: string[]): { lock: string; state: string; args: string[] }[] {
  const keys = Number(command[2]);
  const saves = [];
  let at = 3 + keys;
  for (let k = 0; k < keys; k += 2) {
    const count = Number(/^[fd]\d+:(\d+):/.exec(command[at]!)![1]);
    saves.push({ lock: command[3 + k]!, state: command[4 + k]!, args: command.slice(at, at + 1 + count) });
    at += 1 + count;
  }
  expect(at).toBe(command.length);
  return saves;
}

/** The lock value a save's header carries: the tests' saves use their id as lock value. */
function idOf(args: string[]): string {
  return /^[fd]\d+:\d+:\d+:(.*)$/.exec(args[0]!)![1]!;
}

interface RecordedSave extends QueuedSave {
  settled: boolean;
  outcomes: string[];
}

function queuedSave(id: string, fields: string[] = ['s', '{"n":1}']): RecordedSave {
  const save: RecordedSave = {
    lock: `{${id}}:lock`,
    state: `{${id}}`,
    args: [saveHeader('d', 0, fields.length, '60000', id), ...fields],
    settled: false,
    outcomes: [],
    answered: (written) => void save.outcomes.push(`answered ${String(written)}`),
    failed: (error) => void save.outcomes.push(`failed ${(error as Error).message}`),
    notSent: () => void save.outcomes.push('not sent'),
  };
  return save;
}

/** Lets the queue's promise reactions run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('RedisSaveQueue', () => {
  it('sends a lone save at once, and the saves that come while it is in flight together in the next call', async () => {
    const connection = new ScriptedConnection();
    const queue = new RedisSaveQueue(() => connection);
    const first = queuedSave('a');
    queue.submit(first);
    expect(connection.sent).toHaveLength(1);
    const later = ['b', 'c', 'd'].map((id) => queuedSave(id));
    for (const save of later) queue.submit(save);
    expect(connection.sent).toHaveLength(1);
    expect(queue.queued).toBe(3);

    connection.answerOldest(() => [1]);
    await flush();
    expect(first.outcomes).toEqual(['answered 1']);
    expect(connection.sent).toHaveLength(2);
    expect(savesIn(connection.sent[1]!).map((save) => idOf(save.args))).toEqual(['b', 'c', 'd']);
    expect(connection.sent[1]!.slice(0, 3)).toEqual(['EVALSHA', SAVE_SCRIPT.sha1, '6']);

    // Each save gets its own answer: one lost lock does not fail the others.
    connection.answerOldest(() => [1, 0, 2]);
    await flush();
    expect(later.map((save) => save.outcomes)).toEqual([['answered 1'], ['answered 0'], ['answered 2']]);
    expect(queue.queued).toBe(0);
  });

  it('drops a queued save whose caller stopped waiting, and sends the others', async () => {
    const connection = new ScriptedConnection();
    const queue = new RedisSaveQueue(() => connection);
    queue.submit(queuedSave('a'));
    const expired = queuedSave('b');
    const kept = queuedSave('c');
    queue.submit(expired);
    queue.submit(kept);
    expired.settled = true;
    connection.answerOldest(() => [1]);
    await flush();
    expect(savesIn(connection.sent[1]!).map((save) => idOf(save.args))).toEqual(['c']);
    expect(expired.outcomes).toEqual([]);
  });

  it('fails every save of a call that failed, and tells queued saves when the connection is down at their turn', async () => {
    const connection = new ScriptedConnection();
    const queue = new RedisSaveQueue(() => connection);
    const sent = queuedSave('a');
    const waiting = queuedSave('b');
    queue.submit(sent);
    queue.submit(waiting);
    connection.isReady = false;
    connection.answerOldest(() => new Error('Socket closed unexpectedly'));
    await flush();
    expect(sent.outcomes).toEqual(['failed Socket closed unexpectedly']);
    expect(waiting.outcomes).toEqual(['not sent']);
    expect(connection.sent).toHaveLength(1);
  });

  it('sends the script source after NOSCRIPT, in the same call, and only then the saves that waited', async () => {
    const connection = new ScriptedConnection();
    const queue = new RedisSaveQueue(() => connection);
    const first = queuedSave('a');
    const second = queuedSave('b');
    queue.submit(first);
    queue.submit(second);
    connection.answerOldest(() => new Error('NOSCRIPT No matching script. Please use EVAL.'));
    await flush();
    expect(connection.sent).toHaveLength(2);
    expect(connection.sent[1]!.slice(0, 3)).toEqual(['EVAL', SAVE_SCRIPT.source, '2']);
    expect(first.outcomes).toEqual([]);
    connection.answerOldest(() => [1]);
    await flush();
    expect(first.outcomes).toEqual(['answered 1']);
    expect(savesIn(connection.sent[2]!).map((save) => idOf(save.args))).toEqual(['b']);
  });

  it('tells the saves of a call refused with NOSCRIPT that nothing was written when the connection is down by then', async () => {
    const connection = new ScriptedConnection();
    const queue = new RedisSaveQueue(() => connection);
    const save = queuedSave('a');
    queue.submit(save);
    connection.isReady = false;
    connection.answerOldest(() => new Error('NOSCRIPT No matching script. Please use EVAL.'));
    await flush();
    expect(save.outcomes).toEqual(['not sent']);
    expect(connection.sent).toHaveLength(1);
  });

  it('fails a save whose send threw, and sends the next one at once', async () => {
    const connection = new ScriptedConnection();
    const queue = new RedisSaveQueue(() => connection);
    const send = connection.sendCommand.bind(connection);
    connection.sendCommand = () => {
      throw new Error('encoder broke');
    };
    const broken = queuedSave('a');
    queue.submit(broken);
    await flush();
    expect(broken.outcomes).toEqual(['failed encoder broke']);
    connection.sendCommand = send;
    queue.submit(queuedSave('b'));
    expect(connection.sent).toHaveLength(1);
  });

  it('splits a long queue into calls of at most 64 saves, sent together', async () => {
    const connection = new ScriptedConnection();
    const queue = new RedisSaveQueue(() => connection);
    queue.submit(queuedSave('first'));
    const many = Array.from({ length: 150 }, (_, i) => queuedSave(`t${i}`));
    for (const save of many) queue.submit(save);
    connection.answerOldest(() => [1]);
    await flush();
    expect(connection.sent.slice(1).map((command) => savesIn(command).length)).toEqual([64, 64, 22]);
    // The next group waits for all three.
    const next = queuedSave('next');
    queue.submit(next);
    connection.answerOldest((locks) => locks.map(() => 1));
    connection.answerOldest((locks) => locks.map(() => 1));
    await flush();
    expect(connection.sent).toHaveLength(4);
    connection.answerOldest((locks) => locks.map(() => 1));
    await flush();
    expect(connection.sent).toHaveLength(5);
    expect(many.every((save) => save.outcomes.length === 1 && save.outcomes[0] === 'answered 1')).toBe(true);
  });

  it('keeps every save fenced and answered exactly once, whatever the interleaving of saves, answers and give-ups', async () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('submit' as const), count: fc.integer({ min: 1, max: 5 }), changed: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('answer' as const), fail: fc.boolean(), lostEvery: fc.integer({ min: 2, max: 5 }) }),
      fc.record({ kind: fc.constant('give up' as const), pick: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        const connection = new ScriptedConnection();
        const queue = new RedisSaveQueue(() => connection);
        const saves: RecordedSave[] = [];
        const gaveUpBeforeSent = new Set<string>();
        const sentIds = () => connection.sent.flatMap((command) => savesIn(command).map((save) => idOf(save.args)));
        const answer = (fail: boolean, lostEvery: number) =>
          connection.answerOldest((locks) => (fail ? new Error('connection lost') : locks.map((_, i) => (i % lostEvery === lostEvery - 1 ? 0 : 1))));
        for (const action of steps) {
          const [pendingBefore, sentBefore] = [connection.pending, connection.sent.length];
          if (action.kind === 'submit') {
            for (let i = 0; i < action.count; i++) {
              const fields = Array.from({ length: action.changed }, (_, f) => [`s${f}`, `{"v":${saves.length}}`]).flat();
              const save = queuedSave(`t${saves.length}`, fields);
              saves.push(save);
              queue.submit(save);
            }
            // While a call is in flight, new saves wait; otherwise the first goes at once and the rest wait for it.
            expect(connection.sent.length - sentBefore).toBe(pendingBefore > 0 ? 0 : 1);
          } else if (action.kind === 'answer' && connection.pending > 0) {
            answer(action.fail, action.lostEvery);
            await flush();
          } else if (action.kind === 'give up' && saves.length > 0) {
            const save = saves[action.pick % saves.length]!;
            if (!sentIds().includes(idOf(save.args))) gaveUpBeforeSent.add(idOf(save.args));
            save.settled = true;
          }
        }
        while (connection.pending > 0) {
          answer(false, 3);
          await flush();
        }
        const sent = sentIds();
        // Each save is sent once, in the order saves were submitted, with its own keys and arguments, unless its
        // caller gave up before its turn.
        expect(sent).toEqual(saves.map((save) => idOf(save.args)).filter((id) => !gaveUpBeforeSent.has(id)));
        for (const command of connection.sent) {
          for (const carried of savesIn(command)) {
            const save = saves[Number(idOf(carried.args).slice(1))]!;
            expect(carried).toEqual({ lock: save.lock, state: save.state, args: save.args });
          }
        }
        for (const save of saves) {
          expect(save.outcomes).toHaveLength(gaveUpBeforeSent.has(idOf(save.args)) ? 0 : 1);
        }
        expect(queue.queued).toBe(0);
      }),
      { numRuns: 300 },
    );
  }, 30_000);

  it('saveCommand lays out keys in pairs, then each save as its header and arguments', () => {
    const command = saveCommand([
      { lock: 'l1', state: 's1', args: [saveHeader('f', 0, 2, '10', 'v:1'), '#', '1'] },
      { lock: 'l2', state: 's2', args: [saveHeader('d', 1, 3, '10', 'v:2'), 'gone', 'root.a', '{"n":1}'] },
    ]);
    expect(command).toEqual(['EVALSHA', SAVE_SCRIPT.sha1, '4', 'l1', 's1', 'l2', 's2', 'f0:2:10:v:1', '#', '1', 'd1:3:10:v:2', 'gone', 'root.a', '{"n":1}']);
  });
});
