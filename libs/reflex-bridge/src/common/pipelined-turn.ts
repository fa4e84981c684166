import type { IncomingMessage, ServerResponse } from 'node:http';

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
  return new Promise<boolean>((resolve) => {
    const onTurn = () => {
      connection.off('close', onClose);
      resolve(true);
    };
    const onClose = () => {
      res.off('socket', onTurn);
      resolve(false);
    };
    res.once('socket', onTurn);
    connection.once('close', onClose);
  });
}
