import type { BridgeOutcome } from '../bridge/bridge-outcome.js';
import type { EventClient } from '../common/event-client.js';
import type { RouterData } from '../protocol/inbound-event.js';
import type { HandlerDefinition } from '../state/state-definition.js';

/**
 * One upload's handler call, as the upload route hands it to `EventPipeline.runUpload`. The pipeline knows
 * nothing of multipart forms: what the handler's upload parameter receives is passed through as it is.
 */
export interface UploadCall {
  /** The handler, one with an upload parameter (see `HandlerDefinition.upload`). */
  handler: HandlerDefinition;
  /** Where the handler's deltas and client events go (the route chooses: the NDJSON answer, the socket). */
  client: EventClient;
  /** The tier, already run on the upload's own HTTP request (see `BridgeRunner.runOnRequest`). */
  outcome: BridgeOutcome;
  /** Router data for the call and its follow-up events (the request's headers and IP, the token). */
  routerData: RouterData;
  /** The form's `__reflex_event_args`: what the handler's `@Payload()` parameters read. */
  payload: Record<string, unknown>;
  /** What the upload parameter receives: the files (buffered) or the chunk iterator (streaming). */
  upload: unknown;
  /**
   * Cancels the upload. The route aborts it when the client goes away; the pipeline aborts it with a
   * `state_lock_lost` `BridgeError` when the token's state lock could not be kept while the handler ran. Its
   * signal is what an `@EventUploadSignal()` parameter receives.
   */
  cancel: AbortController;
}
