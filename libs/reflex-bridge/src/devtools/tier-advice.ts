/**
 * One finding of the tier advisor: a handler that pays for a tier it never uses (`could_be_none`), or a
 * `none` handler that asked for the request (`needs_request`).
 * @publicApi
 */
export interface TierAdvice {
  handler: string;
  kind: 'could_be_none' | 'needs_request';
  /** The tier the handler ran on in the recorded events. */
  tier: string;
  /** How many of the recorded events of this handler the finding rests on. */
  events: number;
  /** For `could_be_none`: the mean milliseconds per event spent on the tier (chain, guards, session end). */
  savingMs?: number;
  /** One sentence saying what to change. */
  message: string;
}
