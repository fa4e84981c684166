/**
 * A Redis Cluster command node-redis could not route to a node, so it was never sent: the layout node-redis holds has
 * no master for the command's slot (node-redis then fails with a bare `TypeError` reading the slot's entry). The
 * cluster client rejects such a command with this error instead, so that a write failing this way reads as not done
 * (`isNotSent`), not as one whose outcome is unknown.
 */
export class CommandNotRoutedError extends Error {
  constructor(cause: unknown) {
    super(`no master serves this key's slot in the Redis Cluster layout the client holds (${(cause as Error)?.message ?? String(cause)}); nothing was sent`, { cause });
    this.name = 'CommandNotRoutedError';
  }
}
