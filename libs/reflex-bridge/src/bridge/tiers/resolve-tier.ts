import { isBridgeTier, type BridgeMode, type BridgeTier } from './bridge-tier.js';

/** Everything tier resolution depends on, gathered by the bridge. */
export interface TierInputs {
  /** The resolver's answer; anything that is not a tier falls through. */
  resolverAnswer?: unknown;
  /** `@BridgeTier` on the handler. */
  handlerTier?: BridgeTier;
  /** `@BridgeTier` on the state class itself (not inherited). */
  classTier?: BridgeTier;
  mode: BridgeMode;
  /** For `smart` mode: the state uses the request (AppState, request/user/session params, guards). */
  bridgeAware: boolean;
  upload: boolean;
}

/**
 * The tier of one event; the first rule that answers wins:
 * 1. the resolver, when it returns a valid tier;  2. `@BridgeTier` on the handler;  3. on the class;
 * 4. the mode (`full` / `none`; `smart`: `full` when bridge-aware, else `none`).
 * Then upload events are raised to at least `auth_only`.
 */
export function resolveTier(inputs: TierInputs): BridgeTier {
  let tier: BridgeTier;
  if (isBridgeTier(inputs.resolverAnswer)) tier = inputs.resolverAnswer;
  else if (inputs.handlerTier) tier = inputs.handlerTier;
  else if (inputs.classTier) tier = inputs.classTier;
  else if (inputs.mode === 'smart') tier = inputs.bridgeAware ? 'full' : 'none';
  else tier = inputs.mode;
  if (inputs.upload && tier === 'none') tier = 'auth_only';
  return tier;
}
