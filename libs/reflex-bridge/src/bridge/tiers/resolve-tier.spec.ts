import { describe, expect, it } from '@jest/globals';
import { resolveTier, type TierInputs } from './resolve-tier.js';
import { BRIDGE_TIERS, type BridgeMode, type BridgeTier } from './bridge-tier.js';

/** The rules, written independently of the implementation: first answer wins, then the upload floor. */
function expected(inputs: TierInputs): BridgeTier {
  const valid = (value: unknown): value is BridgeTier => (BRIDGE_TIERS as readonly unknown[]).includes(value);
  const chosen: BridgeTier = valid(inputs.resolverAnswer)
    ? inputs.resolverAnswer
    : (inputs.handlerTier ?? inputs.classTier ?? (inputs.mode === 'smart' ? (inputs.bridgeAware ? 'full' : 'none') : inputs.mode));
  return inputs.upload && chosen === 'none' ? 'auth_only' : chosen;
}

const resolverAnswers: unknown[] = [undefined, null, 'bogus', 42, 'none', 'auth_only', 'full'];
const overrides: Array<BridgeTier | undefined> = [undefined, 'none', 'auth_only', 'full'];
const modes: BridgeMode[] = ['full', 'smart', 'none'];

describe('resolveTier: every combination of resolver, handler, class, mode, awareness and upload', () => {
  const rows: Array<[TierInputs, BridgeTier]> = [];
  for (const resolverAnswer of resolverAnswers)
    for (const handlerTier of overrides)
      for (const classTier of overrides)
        for (const mode of modes)
          for (const bridgeAware of [false, true])
            for (const upload of [false, true]) {
              const inputs = { resolverAnswer, handlerTier, classTier, mode, bridgeAware, upload };
              rows.push([inputs, expected(inputs)]);
            }

  it.each(rows)('%j → %s', (inputs, tier) => {
    expect(resolveTier(inputs)).toBe(tier);
  });

  it('pins the rules that matter most by example', () => {
    const base: TierInputs = { mode: 'full', bridgeAware: false, upload: false };
    expect(resolveTier({ ...base, resolverAnswer: 'none', handlerTier: 'full' })).toBe('none');
    expect(resolveTier({ ...base, resolverAnswer: 'nonsense', handlerTier: 'auth_only' })).toBe('auth_only');
    expect(resolveTier({ ...base, handlerTier: 'full', classTier: 'none' })).toBe('full');
    expect(resolveTier({ ...base, classTier: 'none' })).toBe('none');
    expect(resolveTier({ ...base, mode: 'smart' })).toBe('none');
    expect(resolveTier({ ...base, mode: 'smart', bridgeAware: true })).toBe('full');
    expect(resolveTier({ ...base, resolverAnswer: 'none', upload: true })).toBe('auth_only');
    expect(resolveTier({ ...base, mode: 'none', upload: true })).toBe('auth_only');
    expect(resolveTier({ ...base, resolverAnswer: 'full', upload: true })).toBe('full');
  });
});
