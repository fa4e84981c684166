/**
 * Raised by `ReflexStateService.modify` for a token that is malformed or has no state (it never connected, or
 * its state expired): changing state from outside must never create state for a token nobody holds. An HTTP route
 * that takes a token from its URL should answer it with a 404.
 * @publicApi
 */
export class UnknownClientTokenError extends Error {
  /** @param reason `malformed` (not a client token's shape) or `unknown` (no state for it). */
  constructor(readonly reason: 'malformed' | 'unknown') {
    super(reason === 'malformed' ? 'This is not a client token.' : 'No client state exists for this token.');
    this.name = 'UnknownClientTokenError';
  }
}
