import type { StateUpdate } from '../protocol/state-update.js';

/** Longest string scanned here; a longer one is quoted by `JSON.stringify`, which is faster per character. */
const MAX_SCANNED_LENGTH = 256;

/** Most quoted keys kept: state and var names are few (the app's code defines them); the bound is a safeguard. */
const MAX_QUOTED_KEYS = 4_096;

/** State names and wire keys, JSON-quoted: the same few strings come back with every delta. */
const quotedKeys = new Map<string, string>();

/**
 * `value` as a JSON string, exactly as `JSON.stringify(value)` writes it. A short string that needs no escape (no
 * quote, backslash, control character or surrogate) is quoted as it is; anything else goes to `JSON.stringify`.
 */
function quoted(value: string): string {
  if (value.length > MAX_SCANNED_LENGTH) return JSON.stringify(value);
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x22 || code === 0x5c || (code >= 0xd800 && code <= 0xdfff)) return JSON.stringify(value);
  }
  return `"${value}"`;
}

function quotedKey(key: string): string {
  let text = quotedKeys.get(key);
  if (text === undefined) {
    if (quotedKeys.size >= MAX_QUOTED_KEYS) quotedKeys.clear();
    text = quoted(key);
    quotedKeys.set(key, text);
  }
  return text;
}

/** One primitive value as JSON; `null` when the value is not one this encoder writes. */
function primitiveJson(value: unknown): string | null {
  switch (typeof value) {
    case 'number':
      // What JSON.stringify writes: the number's own text, `null` for NaN and the infinities.
      return Number.isFinite(value) ? `${value}` : 'null';
    case 'string':
      return quoted(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      return value === null ? 'null' : null;
    default:
      return null;
  }
}

/**
 * The JSON text of a state update that is a delta of primitive values only (numbers, strings, booleans, `null`),
 * what most events answer, byte for byte what `JSON.stringify(update)` writes; `undefined` for any other update
 * (client events, a var holding an object or an array, `undefined`, a function...), which the caller encodes as usual.
 *
 * Why: on Node 20, `JSON.stringify`'s set-up costs more than the whole text of a small delta (about 7,000
 * instructions for a one-var change, a tenth of what a bare Socket.IO echo costs per event), and every event pays it.
 * The delta and its per-state records are plain objects the pipeline builds (see `toWireVars`), so no `toJSON` can
 * sit on them; values are checked one by one.
 */
export function primitiveDeltaJson(update: StateUpdate): string | undefined {
  const delta = update.delta;
  if (delta === undefined || update.events !== undefined) return undefined;
  let text = '{"delta":{';
  let firstState = true;
  for (const stateName in delta) {
    const vars = delta[stateName];
    if (vars === null || typeof vars !== 'object' || Array.isArray(vars)) return undefined;
    text += firstState ? `${quotedKey(stateName)}:{` : `,${quotedKey(stateName)}:{`;
    firstState = false;
    let firstVar = true;
    for (const key in vars) {
      const json = primitiveJson(vars[key]);
      if (json === null) return undefined;
      text += firstVar ? `${quotedKey(key)}:${json}` : `,${quotedKey(key)}:${json}`;
      firstVar = false;
    }
    text += '}';
  }
  return `${text}}}`;
}
