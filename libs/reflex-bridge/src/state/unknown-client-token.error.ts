import { NotFoundException } from '@nestjs/common';

/**
 * Raised by `ReflexStateService.modify` for a token that is malformed or has no state (it never connected, or
 * its state expired), and by `ReflexStateService.read` for a malformed one: changing state from outside must never
 * create state for a token nobody holds. It is a Nest `NotFoundException`, so an HTTP route that takes a token
 * from its URL and lets it propagate answers `404` without catching it (a token nobody holds is the caller's
 * mistake, not a server fault).
 * @publicApi
 */
export class UnknownClientTokenError extends NotFoundException {
  /** @param reason `malformed` (not a client token's shape) or `unknown` (no state for it). */
  constructor(readonly reason: 'malformed' | 'unknown') {
    super(reason === 'malformed' ? 'This is not a client token.' : 'No client state exists for this token.');
    // Set by hand as well as by HttpException (which takes the constructor's name): bundlers may rename classes.
    this.name = 'UnknownClientTokenError';
  }
}
