import type { BridgeError } from './bridge-error.js';

/**
 * What the `/_event` server's decoder hands on instead of an `event` frame it refused to parse (see
 * `guardedSocketIoParser`): the frame was read and charged like any other, and the pipeline answers it with
 * {@link error} for that client alone, as it answers an event it parsed and refused.
 */
export class UnparsedEvent {
  constructor(
    /** Why the frame was not parsed: the error its client is sent. */
    readonly error: BridgeError,
  ) {}
}
