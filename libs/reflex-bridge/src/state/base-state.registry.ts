/**
 * Library base classes (such as `AppState`) whose getters are plumbing, not computed vars. Kept as a
 * registry so the state registry need not import every base class.
 */
const basePrototypes = new Set<object>();

/** Marks a library base state class: its getters are not computed vars. */
export function registerBaseState(cls: { prototype: object }): void {
  basePrototypes.add(cls.prototype);
}

/** True for the prototype of a registered library base class. */
export function isBaseStatePrototype(proto: object): boolean {
  return basePrototypes.has(proto);
}
