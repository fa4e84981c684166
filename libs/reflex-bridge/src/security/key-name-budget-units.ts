import { DEPTH_SCAN_FROM, keyNamesInLastScan, scanEventFrame } from './guarded-socket-io.parser.js';

/**
 * Distinct key names of an event frame per extra unit of its connection's budget. V8's `JSON.parse` makes a hidden
 * class for each object shape it has not met, so a key name no earlier object had costs about what 8,192 characters
 * of plain values do (one unit, `CHARS_PER_BUDGET_UNIT`) per 100 of them: a 140 kB frame of 10,000 names new to the
 * process (the most `maxMessageBytes` allows at its default) took some 45 ms to parse, where its size alone was
 * charged 17 units, and connections sending such frames within their budgets kept the one thread busy. Names a
 * frame repeats count once: a table of a few hundred rows sharing a dozen names costs nothing more.
 */
export const KEY_NAMES_PER_BUDGET_UNIT = 100;

/**
 * The units of `rateLimit.perConnection` an event frame costs beyond its size's, for the distinct key names it
 * carries (counted up to `maxKeyNames` and one more, as the decoder counts them before it parses the frame): one per
 * {@link KEY_NAMES_PER_BUDGET_UNIT}. 0 for frames of up to a kilobyte, which are not scanned (they hold at most about
 * 150 names). The frame's scan is the decoder's own, done once (see `scanEventFrame`).
 */
export function keyNameBudgetUnits(frame: string, maxKeyNames: number): number {
  if (frame.length <= DEPTH_SCAN_FROM) return 0;
  scanEventFrame(frame, maxKeyNames);
  return Math.floor(keyNamesInLastScan() / KEY_NAMES_PER_BUDGET_UNIT);
}
