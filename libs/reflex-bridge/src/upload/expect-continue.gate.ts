import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** What {@link ExpectContinueGate.install} found on the server. */
export type ExpectContinueInstall = 'installed' | 'app-handles-it' | 'no-server';

/**
 * Holds back Node's automatic `100 Continue` for uploads until their checks passed.
 *
 * A client that sends `Expect: 100-continue` (curl does for bodies over 1 MB, as do many HTTP libraries) waits for
 * `100 Continue` before it sends the body. Node's server answers that at once, before any route ran, so an upload the
 * route then refuses (a busy worker, an unknown token, a logged-out user) had already been told to send its body,
 * and gigabytes went over the network for nothing. With the gate, Node emits such requests as `checkContinue`: the
 * gate lets every other request go on at once (as Node would have), and holds the `100` of the upload route's own
 * requests until {@link release}, which the route calls once the request's tier passed, right before it reads the
 * body. A refused upload is answered without its body ever having been sent.
 */
export class ExpectContinueGate {
  /** Requests whose `100 Continue` is held for the route: the only ones {@link release} answers. */
  private readonly held = new WeakSet<IncomingMessage>();

  /**
   * @param holds whether a request is one of the route's, whose `100 Continue` waits for its checks.
   */
  constructor(private readonly holds: (req: IncomingMessage) => boolean) {}

  /**
   * Takes over `checkContinue` on the app's HTTP server. An app (or another module) that already listens for it
   * decides about `100 Continue` itself: the gate then leaves it alone, and uploads get Node's (or the app's) answer.
   */
  install(server: Server | undefined): ExpectContinueInstall {
    if (!server || typeof server.on !== 'function') return 'no-server';
    if (server.listenerCount('checkContinue') > 0) return 'app-handles-it';
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      if (this.holds(req)) this.held.add(req);
      // What Node does without a listener: the client may send its body, then the request is handled as any other.
      else res.writeContinue();
      server.emit('request', req, res);
    });
    return 'installed';
  }

  /** The request's checks passed: a client waiting for `100 Continue` may send its body now. */
  release(req: IncomingMessage, res: ServerResponse): void {
    if (!this.held.delete(req)) return;
    // Node emits `checkContinue` only for requests that asked for it: each held one is waiting for this line.
    if (!res.headersSent && !res.destroyed) res.writeContinue();
  }
}
