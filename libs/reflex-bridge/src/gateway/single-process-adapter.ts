import { Adapter } from 'socket.io-adapter';

/**
 * True when a namespace uses Socket.IO's default in-memory adapter (or its session-aware variant), which reaches
 * only this process's sockets; false for a cluster adapter (Redis, Postgres, cluster…) installed by the app or
 * by the module. Rooms, server-side messages and `fetchSockets` reach other workers only through the latter.
 */
export function isSingleProcessAdapter(adapter: object): boolean {
  const prototype = Object.getPrototypeOf(adapter) as object;
  return prototype === Adapter.prototype || Object.getPrototypeOf(prototype) === Adapter.prototype && prototype.constructor.name === 'SessionAwareAdapter';
}
