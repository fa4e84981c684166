/**
 * node-redis options that every connection the library opens sets, so that node-redis 5 and node-redis 6 (both in
 * the module's peer range) behave the same. node-redis 6 changed three defaults, each of which the library's Redis
 * code was written against:
 *
 * - **RESP2** (`RESP: 2`; 6 speaks RESP3 by default): the replies keep node-redis 5's shapes, the subscriber stays a
 *   connection of its own in pub/sub mode, and Redis Enterprise's maintenance notices stay off (6 turns them on with
 *   RESP3).
 * - **No command timeout** (6 rejects a command still waiting to be written after 5 s): while Redis reads slowly or not
 *   at all (a paused process, a full socket buffer), commands wait to be sent, bounded by `maxPendingCommands`, and
 *   the silent-connection watches tell a dead path from a paused server; the state store's own deadlines
 *   (`commandTimeoutMs`) answer the events meanwhile.
 * - **TCP keep-alive probes after 5 s idle** (6 waits 30 s), as node-redis 5 did.
 */
export const REDIS_PROTOCOL_OPTIONS = {
  RESP: 2,
  commandOptions: { timeout: undefined },
} as const;

/** The socket part of the same (node-redis 5's `keepAliveInitialDelay`), merged into each connection's `socket`. */
export const REDIS_SOCKET_OPTIONS = { keepAliveInitialDelay: 5_000 } as const;
