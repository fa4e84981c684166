import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The turns waiting on each connection, settled by one `close` listener per connection: a listener per queued request
 * made Node print a `MaxListenersExceededWarning` to the server's stderr for every connection that pipelined more
 * than ten, on the client's demand.
 */
const waiting = new WeakMap<Socket, Set<() => void>>();

/**
 * Waits until `res` is the answer its connection is writing. Node's HTTP server runs every pipelined request of a
 * read at once and queues their answers, in order, until the client has read those before; an answer still queued
 * has no socket yet. A route that opens a file for each would hold one descriptor per queued request for as long as
 * the client reads nothing, and keep it when the client leaves (a queued answer never closes): a client that
 * pipelines thousands of requests could leave the process unable to open a file or accept a connection.
 *
 * `true` at once for an answer that is being written (every request that was not pipelined); otherwise a promise
 * of `true` when its turn comes, or `false` when the connection closed first (nothing is to be done for it then).
 */
export function whenAnswerable(req: IncomingMessage, res: ServerResponse): true | Promise<boolean> {
  if (res.socket) return true;
  const connection = req.socket;
  // Closed already: its 'close' will not come again, and neither will the answer's turn.
  if (connection.destroyed) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    let turns = waiting.get(connection);
    if (turns === undefined) {
      const created = new Set<() => void>();
      turns = created;
      waiting.set(connection, created);
      connection.once('close', () => {
        waiting.delete(connection);
        for (const closed of created) closed();
      });
    }
    const queued = turns;
    const onClose = () => {
      res.off('socket', onTurn);
      resolve(false);
    };
    const onTurn = () => {
      queued.delete(onClose);
      resolve(true);
    };
    queued.add(onClose);
    res.once('socket', onTurn);
  });
}
