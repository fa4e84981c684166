import { BRIDGE_ERROR_EVENT, type BridgeErrorPayload } from '../protocol/bridge-error.js';
import type { ClientEvent } from '../protocol/client-event.js';
import { SharedMessage } from '../protocol/shared-message.js';

/** The messages that answer one refused event: the `bridge_error`, and the `event` presenting it (if any). */
export interface BusyAnswer {
  readonly error: SharedMessage;
  readonly presented: SharedMessage | undefined;
}

/** Distinct event names kept: a flood repeats one or a few, and an attacker choosing names cannot grow this. */
const MAX_NAMES = 64;

/**
 * The longest event name whose answer is kept (handler names are far shorter): a name is the client's, and up to
 * `maxMessageBytes` long, so answers to longer ones are made for each refusal and not kept.
 */
const MAX_KEPT_NAME_LENGTH = 256;

/**
 * The answers to events refused with `busy`, one per event name, built once and written as shared messages.
 *
 * Why: `busy` is what a flooding socket gets for every frame over its queue's limits, hundreds per socket read.
 * Presenting, encoding and framing each answer anew made a flood's refusals most of the server's work (the text of
 * the presented toast alone was a tenth), and every other client waits while one read's refusals are written. The
 * answer to a refused event depends only on its name, so it is made once and every further refusal of that name
 * writes the same encoded packets. At most {@link MAX_NAMES} names of at most {@link MAX_KEPT_NAME_LENGTH} characters
 * are kept (the cache starts afresh past that).
 */
export class BusyAnswers {
  private readonly byName = new Map<string, BusyAnswer>();

  constructor(
    /** The `busy` payload for a refused event of this name. */
    private readonly payloadFor: (eventName: string) => BridgeErrorPayload,
    /** The events that show that payload to the user (the app's error presenter, already made safe to send). */
    private readonly present: (payload: BridgeErrorPayload) => ClientEvent[],
  ) {}

  /** The answer to a refused event named `eventName`. */
  answerTo(eventName: string): BusyAnswer {
    if (eventName.length > MAX_KEPT_NAME_LENGTH) return this.make(eventName);
    let answer = this.byName.get(eventName);
    if (answer === undefined) {
      if (this.byName.size >= MAX_NAMES) this.byName.clear();
      answer = this.make(eventName);
      this.byName.set(eventName, answer);
    }
    return answer;
  }

  private make(eventName: string): BusyAnswer {
    const payload = this.payloadFor(eventName);
    const events = this.present(payload);
    return {
      error: new SharedMessage(BRIDGE_ERROR_EVENT, payload),
      presented: events.length > 0 ? new SharedMessage('event', { events }) : undefined,
    };
  }
}
