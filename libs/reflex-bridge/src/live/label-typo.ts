/**
 * Edits (insertions, deletions, substitutions, and swaps of two neighbours) between `a` and `b`, or more than `limit`
 * as soon as that is certain (optimal string alignment distance, compared case-insensitively). A few lines rather
 * than a dependency of the published package: it runs once per live-list label at startup.
 */
function editsBetween(a: string, b: string, limit: number): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let edits = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) edits = Math.min(edits, before[j - 2]! + 1);
      current.push(edits);
      best = Math.min(best, edits);
    }
    if (best > limit) return limit + 1;
    before = previous;
    previous = current;
  }
  return previous[b.length]!;
}

/** The model part of a label: `product` of `shop.product`. */
const modelOf = (label: string): string => label.slice(label.lastIndexOf('.') + 1).toLowerCase();

/**
 * The registered label that `label` (registered by nobody) most likely misspells, or `undefined` when none is close:
 * at most two edits apart (`shop.prodcut`, `Shop.Product`, `shop.products`), or naming the same model with or without
 * its app (`product` for `shop.product`). A label far from every registered one is taken for one the app publishes
 * itself (`LiveBroadcaster.publish`), which needs no registration.
 */
export function likelyMisspelt(label: string, registered: readonly string[]): string | undefined {
  let closest: { label: string; edits: number } | undefined;
  for (const candidate of registered) {
    const edits = modelOf(candidate) === modelOf(label) && (!label.includes('.') || !candidate.includes('.')) ? 1 : editsBetween(label, candidate, 2);
    if (edits <= 2 && (closest === undefined || edits < closest.edits)) closest = { label: candidate, edits };
  }
  return closest?.label;
}
