/**
 * Bounds on what the client accepts from a server. A broken or compromised server (or anyone in the middle of a
 * plain `http` connection) could otherwise freeze the tab with a frame of hundreds of megabytes, overflow the stack
 * of whatever walks a 100,000-deep object (`JSON.stringify`, a recursive render), or have the client send a
 * million events back to the server in one go.
 */
export interface FrameLimits {
  /**
   * Longest server message accepted, in characters of its JSON text (bytes, for ASCII), checked before it is
   * parsed. The server's own state cap (`maxStateBytes`, 2 MB by default) keeps its frames well below it.
   * @default 16777216 (16 Mi)
   */
  maxChars?: number;
  /** Deepest nesting of objects and arrays accepted in a message, the message itself being level 1. @default 256 */
  maxDepth?: number;
  /**
   * Most entries accepted in one update's `events` list (frontend events, and server events the client sends back
   * to the server, as Reflex's client does). @default 100
   */
  maxEvents?: number;
}

/** {@link FrameLimits} with every default filled in. */
export type ResolvedFrameLimits = Required<FrameLimits>;

/** Fills in the defaults of {@link FrameLimits} and checks the numbers. */
export function resolveFrameLimits(options: FrameLimits = {}): ResolvedFrameLimits {
  const resolved: ResolvedFrameLimits = {
    maxChars: options.maxChars ?? 16 * 1024 * 1024,
    maxDepth: options.maxDepth ?? 256,
    maxEvents: options.maxEvents ?? 100,
  };
  for (const key of ['maxChars', 'maxDepth', 'maxEvents'] as const) {
    if (!(resolved[key] >= 1)) throw new RangeError(`ReflexClient: "frameLimits.${key}" must be a number >= 1.`);
  }
  return resolved;
}

/** Binary data (a Socket.IO attachment: a Buffer in Node, an ArrayBuffer in a browser): one value, as a string is. */
function isBinary(value: object): boolean {
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer;
}

/**
 * Whether `value` nests objects or arrays deeper than `maxDepth` levels. Walks with its own stack (no recursion,
 * so the check cannot overflow) and stops at the first too-deep value. Binary data is a leaf: listing a 16 MiB
 * Buffer's bytes (`Object.values`) would cost a third of a second and 134 MB, per attachment.
 */
export function nestsDeeperThan(value: unknown, maxDepth: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null || isBinary(current)) continue;
    if (depth > maxDepth) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof child === 'object' && child !== null && !isBinary(child)) stack.push([child, depth + 1]);
    }
  }
  return false;
}
