import { Socket } from 'node:net';

/**
 * Names the socket behind an error nobody listens to. The e2e specs run one at a time in one worker
 * (`--maxWorkers=1`): a socket some spec left without an `error` listener crashes whichever spec runs when its peer
 * resets it, and Jest then reports a bare `read ECONNRESET` against that spec. Each socket that connects remembers
 * where it was connected from (one stack per connection, cheap beside a connection), and an `error` it emits with no
 * listener carries that stack and the peer in its message. The error is still thrown, as Node would: this only says
 * whose it is.
 */
const PATCHED = Symbol.for('reflex-bridge.e2e.unheard-socket-errors');
const CONNECTED_FROM = Symbol('connected from');

type Tracked = Socket & { [CONNECTED_FROM]?: string };

const prototype = Socket.prototype as Tracked & Record<symbol, unknown>;
if (!prototype[PATCHED]) {
  prototype[PATCHED] = true;
  const connect = prototype.connect;
  prototype.connect = function (this: Tracked, ...args: unknown[]) {
    this[CONNECTED_FROM] = new Error().stack?.split('\n').slice(2, 14).join('\n');
    return (connect as (...params: unknown[]) => Socket).apply(this, args);
  } as typeof connect;
  const emit = prototype.emit;
  prototype.emit = function (this: Tracked, event: string | symbol, ...args: unknown[]) {
    const error = args[0];
    if (event === 'error' && error instanceof Error && this.listenerCount('error') === 0) {
      error.message += ` [a socket with no 'error' listener, ${this.localPort ?? '?'} -> ${this.remoteAddress ?? '?'}:${this.remotePort ?? '?'}, connected at:\n${this[CONNECTED_FROM] ?? '(accepted by a server)'}]`;
    }
    return (emit as (this: Socket, ...params: unknown[]) => boolean).apply(this, [event, ...args]);
  } as typeof emit;
}
