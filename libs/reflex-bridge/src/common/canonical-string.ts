/**
 * The engine's one shared copy of a string's value (V8 "internalises" property names): two strings made this way
 * from equal values are the same string, so a `Map` lookup with one finds the other's entry by identity.
 *
 * Why: a session id is cut out of a cookie (`slice`) in one place and stored as a `Map` key by another. Equal but
 * distinct strings make every lookup compare their characters, and when either is a slice V8 does that in a
 * runtime call (`String::SlowEquals`), once per event. Call this where such a key is made, which is rare (a cookie
 * verified once, a snapshot written); never on a path that runs per event.
 */
export function canonicalString(value: string): string {
  // A property name is internalised when the property is added; the key read back is that shared copy. A name
  // that is an array index stays a number-like key and reads back as an equal string: harmless.
  for (const key in { [value]: 0 }) return key;
  return value;
}
