import type { StoredState } from '../state/store/state-store.js';

/** Strings up to this many bytes of JSON count as small: changing them cannot grow a state by more than that. */
export const SMALL_VALUE_CHARS = 256;

/**
 * Whether `text` takes more than {@link SMALL_VALUE_CHARS} bytes of JSON. A UTF-16 unit takes at most 6 (a control
 * character, escaped as `\u0000`), so a short one is not measured: the check runs on every event that sets a string.
 */
function isLongString(text: string): boolean {
  return text.length > SMALL_VALUE_CHARS || (text.length * 6 > SMALL_VALUE_CHARS && jsonTextBytes(text) > SMALL_VALUE_CHARS);
}

/** The characters JSON writes escaped: control characters, the quote and the backslash. */
// eslint-disable-next-line no-control-regex -- control characters are what JSON escapes
const ESCAPED_BY_JSON = /[\u0000-\u001f"\\]/;

/**
 * Bytes of `text` as JSON writes it (without its quotes), what it takes on the wire and in Redis: UTF-8, and the
 * escapes. Not `text.length`: that counts UTF-16 units, so a state of emoji (4 bytes, 2 units each) or CJK text (3
 * bytes, 1 unit) would pass a byte budget at 2 to 3 times its size, and one of control characters (`\u0001`, 6 bytes
 * each) at 6 times. A lone surrogate counts 3 (JSON writes 6; no client sends one, as they cannot be typed).
 */
function jsonTextBytes(text: string): number {
  const bytes = Buffer.byteLength(text, 'utf8');
  // Most text has nothing to escape: one native scan says so.
  return ESCAPED_BY_JSON.test(text) ? bytes + escapeBytes(text) : bytes;
}

/** What JSON's escapes add to `text`'s UTF-8 bytes: 1 for `\"`, `\\`, `\n` and the like, 5 for `\u00XX`. */
function escapeBytes(text: string): number {
  let extra = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x22 || code === 0x5c || code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d) extra += 1;
    else if (code < 0x20) extra += 5;
  }
  return extra;
}

/**
 * Objects measured below this size are not remembered: measuring one again costs about what looking it up does,
 * while remembering it costs a weak map entry for as long as the object lives. Every hydrated client keeps its
 * `router` var (a dozen small objects), so remembering all of them cost an idle connection a few hundred bytes.
 */
export const REMEMBERED_MIN_CHARS = 2048;

/**
 * What an object or an array counts for beyond its JSON text. In JSON `{}` is 2 bytes; in V8's heap an empty object
 * or array is about 30 to 60: a state made of many small objects (a list of `{}` sent in a URL query or a payload)
 * would otherwise be measured at a twentieth of the memory it holds, and `maxInMemoryStateBytes` would not bound the
 * heap. With it a typical row (an object of a few short fields) counts about a quarter more than its JSON.
 */
export const CONTAINER_BYTES = 16;

/**
 * How deep objects and arrays may nest in a var. Deeper (or cyclic, which is endlessly deep) values are refused with
 * a message that says which, rather than overflowing the stack here, in `JSON.stringify` or in `structuredClone`
 * with "Maximum call stack size exceeded". No UI state nests this deep.
 */
export const MAX_VALUE_DEPTH = 1000;

/** How many objects {@link describeTooDeep} visits looking for a cycle before it calls the value merely deep. */
const CYCLE_SEARCH_LIMIT = 100_000;

/** Whether `root` holds an object that contains itself (searched depth first, iteratively: no stack to overflow). */
function hasCycle(root: object): boolean {
  const onPath = new Set<object>();
  const stack: { value: object; children: unknown[] | undefined }[] = [{ value: root, children: undefined }];
  let visited = 0;
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.children === undefined) {
      if (++visited > CYCLE_SEARCH_LIMIT) return false;
      onPath.add(frame.value);
      frame.children = Object.values(frame.value);
    }
    const child = frame.children.pop();
    if (child === undefined && frame.children.length === 0) {
      onPath.delete(frame.value);
      stack.pop();
    } else if (child !== null && typeof child === 'object') {
      if (onPath.has(child)) return true;
      stack.push({ value: child, children: undefined });
    }
  }
  return false;
}

/** The refusal of a Map or Set (or a weak one), whose entries JSON does not carry. */
function unsupportedCollection(value: object): TypeError {
  const kind = value instanceof Map ? 'Map' : value instanceof Set ? 'Set' : value instanceof WeakMap ? 'WeakMap' : 'WeakSet';
  return new TypeError(`A var was given a ${kind}, whose entries JSON cannot carry (a client or the Redis store would get {}): convert it (Object.fromEntries(map), [...set]) first. The change was not applied.`);
}

/** Thrown out of the walk when it passes {@link MAX_VALUE_DEPTH}; turned into a refusal where the walk began. */
const TOO_DEEP = new RangeError('too deep');

/** The refusal of a value nested past {@link MAX_VALUE_DEPTH}, saying whether it is cyclic. */
function describeTooDeep(value: object): TypeError {
  return hasCycle(value)
    ? new TypeError('A var was given a value that refers to itself (a cyclic structure), which JSON cannot carry: break the cycle first. The change was not applied.')
    : new TypeError(`A var was given a value nested more than ${MAX_VALUE_DEPTH} levels deep, which the state cannot hold: flatten it first. The change was not applied.`);
}

/**
 * Measures a client's state tree in bytes of JSON, about, plus {@link CONTAINER_BYTES} per object and array, without serialising it on every event: states are
 * copy-on-write (an event replaces the substates and values it changed and keeps the others by reference), so
 * the size of each tree, substate and object value is remembered by identity and only new objects are measured.
 * An event next to a 10,000-row list that it does not touch therefore measures only what it changed, and an event
 * that changes only small primitives is not measured at all ({@link StateSizeMeter.mayGrow}): the cap is kept
 * within a few hundred bytes per var, never exceeded by more.
 *
 * Sizes are estimates (strings by their bytes of JSON, numbers as 8 characters, containers as above): close enough for a cap of megabytes, and
 * the same on every worker for the same state. Of a tree it walks, only trees and objects of at least
 * {@link REMEMBERED_MIN_CHARS} are remembered: the walk skips what is large, and small objects are cheaper to
 * measure again than to remember. What an event set is remembered whatever its size ({@link StateSizeMeter.sizeAfter}).
 */
export class StateSizeMeter {
  private readonly sizes = new WeakMap<object, number>();
  /** Set when a walk meets an object JSON changes (a `Date`, a class instance, one with `toJSON`); see {@link takeNonPlain}. */
  private nonPlain = false;

  /**
   * Whether an object that is not plain JSON data (a `Date`, a class instance, one with its own `toJSON`) was walked
   * since the last call. The pipeline then saves such changes in their JSON form, so a handler finds in the next
   * event what JSON made of them whichever store holds the state (the Redis store saves JSON).
   */
  takeNonPlain(): boolean {
    const seen = this.nonPlain;
    this.nonPlain = false;
    return seen;
  }

  /** About how many bytes `state` takes as JSON. Measures only the substates and values not seen before. */
  sizeOf(state: StoredState): number {
    const known = this.sizes.get(state);
    if (known !== undefined) return known;
    let total = 2;
    for (const name in state) total += jsonTextBytes(name) + 4 + this.objectSize(state[name]);
    if (total >= REMEMBERED_MIN_CHARS) this.sizes.set(state, total);
    return total;
  }

  /**
   * About how many bytes `state` takes after an event set `changes` in it. The object values among `changes` are
   * remembered whatever their size: a live list's fan-out puts one new array into every subscriber's state, which
   * is then measured once rather than once per subscriber. It costs a weak entry per object value an event set,
   * for as long as that value lives.
   */
  sizeAfter(state: StoredState, changes: Record<string, unknown>): number {
    this.rememberChanges(changes);
    return this.sizeOf(state);
  }

  /**
   * {@link sizeAfter} for a tree whose size before the event is known: `before` bytes, of which the state `name`
   * was `previous` (`undefined` when the tree lacked it) and is now `next`, with `changes` set in it. Only the two
   * versions of that state are measured, not the client's other states (its `router` var among them), which an
   * event leaves as they were: in a live list's fan-out to 10,000 subscribers, walking each subscriber's other
   * states was about 8% of the server's CPU. Equal to {@link sizeOf} of the new tree when `before` was.
   */
  sizeReplacing(before: number, name: string, previous: Record<string, unknown> | undefined, next: Record<string, unknown>, changes: Record<string, unknown>): number {
    this.rememberChanges(changes);
    const entry = jsonTextBytes(name) + 4;
    return before - (previous === undefined ? 0 : entry + this.objectSize(previous)) + entry + this.objectSize(next);
  }

  /**
   * Whether `changes` can take a state much past its previous size: only an object or a string of more than
   * {@link SMALL_VALUE_CHARS} bytes can (and a BigInt is measured, to be refused). A var holds one value, so a state whose changes are all small
   * primitives stays within that much of the size it had, and the event needs no measure at all (the common
   * case: counters, flags, short texts).
   */
  mayGrow(changes: Record<string, unknown>): boolean {
    for (const key in changes) {
      const value = changes[key];
      if (typeof value === 'object' ? value !== null : typeof value === 'string' ? isLongString(value) : typeof value === 'bigint') return true;
    }
    return false;
  }

  /** Remembers the size of every object value among `changes`, whatever its size (see {@link sizeAfter}). */
  private rememberChanges(changes: Record<string, unknown>): void {
    for (const key in changes) {
      const value = changes[key];
      if (typeof value === 'object' && value !== null && !this.sizes.has(value)) this.sizes.set(value, this.objectSize(value));
    }
  }

  /** The size of a var's value, or of a state; a value nested too deep is refused, saying whether it is cyclic. */
  private objectSize(value: object): number {
    try {
      return this.nestedSize(value, 0);
    } catch (error) {
      // Searched from the var's value, not from where the walk stopped: that may be a leaf hanging off the cycle.
      if (error === TOO_DEEP) throw describeTooDeep(value);
      throw error;
    }
  }

  private nestedSize(value: object, depth: number): number {
    const known = this.sizes.get(value);
    if (known !== undefined) return known;
    if (depth > MAX_VALUE_DEPTH) throw TOO_DEEP;
    const prototype = Object.getPrototypeOf(value) as unknown;
    if (prototype !== Object.prototype && prototype !== Array.prototype && prototype !== null) this.nonPlain = true;
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (toJSON !== undefined) this.nonPlain = true;
    // What JSON carries of an object with its own `toJSON` (a DTO class) is what that returns: measured, so a small
    // object whose toJSON returns megabytes cannot pass maxStateBytes, and one whose toJSON throws is refused before
    // it is saved (saved, no delta or hydrate of that client could be written until the state expired). A Date's is
    // its ISO text, measured as the object it is.
    if (typeof toJSON === 'function' && !(value instanceof Date)) return this.toJsonSize(value, toJSON as (this: object) => unknown, depth);
    // JSON (the Redis store, every delta) carries a Map or a Set as `{}`: its entries would reach no client and be lost
    // on the next worker, while the in-memory store kept them, unmeasured (any number of entries counted 18 bytes).
    if (value instanceof Map || value instanceof Set || value instanceof WeakMap || value instanceof WeakSet) throw unsupportedCollection(value);
    let size = 2 + CONTAINER_BYTES;
    if (Array.isArray(value)) {
      for (const item of value) size += this.valueSize(item, depth) + 1;
    } else {
      for (const key in value) size += jsonTextBytes(key) + 4 + this.valueSize((value as Record<string, unknown>)[key], depth);
    }
    if (size >= REMEMBERED_MIN_CHARS) this.sizes.set(value, size);
    return size;
  }

  private toJsonSize(value: object, toJSON: (this: object) => unknown, depth: number): number {
    let json: unknown;
    try {
      json = toJSON.call(value);
    } catch (error) {
      throw new TypeError(`A var was given an object whose toJSON threw (${error instanceof Error ? error.message : typeof error}); the change was not applied.`, { cause: error });
    }
    // A toJSON returning itself (or another object with a toJSON) is measured as plain fields, not called again.
    if (json === value || (json !== null && typeof json === 'object' && typeof (json as { toJSON?: unknown }).toJSON === 'function')) return 2 + CONTAINER_BYTES;
    return this.valueSize(json, depth);
  }

  private valueSize(value: unknown, depth: number): number {
    switch (typeof value) {
      case 'string':
        return jsonTextBytes(value) + 2;
      case 'number':
        // NaN and Infinity: JSON has them as null (see takeNonPlain).
        if (!Number.isFinite(value)) this.nonPlain = true;
        return 8;
      case 'bigint':
        // Measured, it would be saved, and then no delta or hydrate of that client could be written (JSON.stringify
        // throws on it) until the state expired. A BIGINT column read by an ORM is the usual source.
        throw new TypeError('A var was given a BigInt, which JSON cannot carry: convert it (Number(), String()) first. The change was not applied.');
      case 'boolean':
        return 5;
      case 'object':
        return value === null ? 4 : this.nestedSize(value, depth + 1);
      default:
        // undefined, a function, a symbol: JSON leaves them out (see takeNonPlain).
        this.nonPlain = true;
        return 0;
    }
  }
}
