/** The dynamic parts of a page path, as a Reflex frontend reports them: one string per `[arg]`, a list for `splat`. */
export type RouteParams = Record<string, string | string[]>;

/** One part of a route: a fixed segment, `[arg]`, `[[arg]]` or the catch-all `[[...splat]]`. */
type RoutePart =
  | { kind: 'static'; text: string }
  | { kind: 'single'; name: string }
  | { kind: 'optional'; name: string }
  | { kind: 'splat' };

/** Reflex's rules for route parts (its `RouteRegex`): slugs, argument names and the only catch-all it accepts. */
const SLUG = /^[a-zA-Z0-9_-]+$/;
const ARG = /^\[([a-zA-Z_]\w*)\]$/;
const OPTIONAL_ARG = /^\[\[([a-zA-Z_]\w*)\]\]$/;
const SPLAT = '[[...splat]]';

/** The longest pathname matched; a longer one (client input) is cut before matching. */
export const MAX_ROUTE_PATHNAME_LENGTH = 8192;

function decode(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    // A malformed escape stays as it was sent, as a router that cannot decode it would show it.
    return segment;
  }
}

/**
 * A page route in Reflex's syntax (`/products`, `/product/[id]`, `/docs/[[page]]`, `/files/[[...splat]]`), and
 * the matching Reflex's backend does to find a page's on-load handlers: leading and trailing slashes do not
 * count, `/index` is `/`, `[arg]` takes one segment, `[[arg]]` one or none, and the catch-all the rest of
 * the path. Matching is case-sensitive, like Reflex's.
 *
 * The params a match returns are the ones Reflex's client puts into `router_data.query` for such a page: each
 * argument as a decoded string, and `splat` as the list of the remaining segments (absent when there are none).
 */
export class RoutePattern {
  /** The route, normalised: one leading slash, none trailing, `/` for the index. */
  readonly route: string;
  /**
   * Reflex's order of precedence among routes (smaller first): catch-alls, then optional arguments, then
   * arguments. A fixed route is tried before `/product/[id]`, which is tried before `/[[...splat]]`.
   */
  readonly specificity: readonly [number, number, number];
  /** The route with argument names erased: two routes with the same shape match the same pages. */
  readonly shape: string;
  private readonly parts: readonly RoutePart[];

  private constructor(route: string, parts: RoutePart[]) {
    this.route = route;
    this.parts = parts;
    const count = (kind: RoutePart['kind']) => parts.filter((part) => part.kind === kind).length;
    this.specificity = [count('splat'), count('optional'), count('single')];
    this.shape = '/' + parts.map((part) => (part.kind === 'static' ? part.text : part.kind === 'single' ? '[]' : part.kind === 'optional' ? '[[]]' : SPLAT)).join('/');
  }

  /**
   * Reads a route in Reflex's syntax.
   * @throws Error naming the part that Reflex would refuse too (a character outside slugs, a bad argument name,
   * a catch-all other than `[[...splat]]` or not at the end, an argument named twice).
   */
  static parse(route: string): RoutePattern {
    if (typeof route !== 'string') throw new Error('A route must be a string.');
    let trimmed = route.trim();
    while (trimmed.startsWith('/')) trimmed = trimmed.slice(1);
    while (trimmed.endsWith('/')) trimmed = trimmed.slice(0, -1);
    if (trimmed === '' || trimmed === 'index') return new RoutePattern('/', []);
    const texts = trimmed.split('/');
    const parts: RoutePart[] = [];
    const names = new Set<string>();
    const named = (name: string) => {
      if (names.has(name)) throw new Error(`Route "${route}" names the argument "${name}" twice.`);
      names.add(name);
      return name;
    };
    texts.forEach((text, index) => {
      if (SLUG.test(text)) {
        parts.push({ kind: 'static', text });
        return;
      }
      if (text.startsWith('[...') || text.startsWith('[[...')) {
        if (text !== SPLAT) throw new Error(`Route "${route}": the catch-all "${text}" is not valid; only "${SPLAT}" is.`);
        if (index !== texts.length - 1) throw new Error(`Route "${route}": the catch-all "${SPLAT}" must be the last part.`);
        named('splat');
        parts.push({ kind: 'splat' });
        return;
      }
      const optional = OPTIONAL_ARG.exec(text);
      if (optional) {
        parts.push({ kind: 'optional', name: named(optional[1]!) });
        return;
      }
      const single = ARG.exec(text);
      if (single) {
        parts.push({ kind: 'single', name: named(single[1]!) });
        return;
      }
      throw new Error(
        `Route "${route}": the part "${text}" is not valid. Parts are letters, digits, "_" and "-", or "[arg]", "[[arg]]" and "${SPLAT}" with an argument name that starts with a letter or "_".`,
      );
    });
    return new RoutePattern('/' + texts.join('/'), parts);
  }

  /**
   * The params of `pathname` when this route matches it, else `undefined`. `pathname` is client input: any
   * value is accepted (a non-string never matches), a query or fragment is ignored, and this never throws.
   */
  match(pathname: unknown): RouteParams | undefined {
    const segments = RoutePattern.segmentsOf(pathname);
    if (!segments) return undefined;
    const params: RouteParams = Object.create(null) as RouteParams;
    return this.matchFrom(0, segments, 0, params) ? params : undefined;
  }

  /**
   * A pathname as Reflex's backend compares it: without query and fragment, one leading and one trailing slash
   * removed, `/index` read as `/`. `undefined` for a non-string.
   */
  static segmentsOf(pathname: unknown): string[] | undefined {
    if (typeof pathname !== 'string') return undefined;
    let path = pathname.length > MAX_ROUTE_PATHNAME_LENGTH ? pathname.slice(0, MAX_ROUTE_PATHNAME_LENGTH) : pathname;
    const cut = path.search(/[?#]/);
    if (cut !== -1) path = path.slice(0, cut);
    if (path.startsWith('/')) path = path.slice(1);
    if (path.endsWith('/')) path = path.slice(0, -1);
    if (path === '' || path === 'index') return [];
    return path.split('/');
  }

  /** Matches parts from `partIndex` against segments from `segmentIndex`; an optional part tries "taken" first, then "skipped". */
  private matchFrom(partIndex: number, segments: string[], segmentIndex: number, params: RouteParams): boolean {
    if (partIndex === this.parts.length) return segmentIndex === segments.length;
    const part = this.parts[partIndex]!;
    const segment = segments[segmentIndex];
    switch (part.kind) {
      case 'static':
        return segment === part.text && this.matchFrom(partIndex + 1, segments, segmentIndex + 1, params);
      case 'single':
        if (segment === undefined || !this.matchFrom(partIndex + 1, segments, segmentIndex + 1, params)) return false;
        params[part.name] = decode(segment);
        return true;
      case 'optional':
        if (segment !== undefined && segment !== '' && this.matchFrom(partIndex + 1, segments, segmentIndex + 1, params)) {
          params[part.name] = decode(segment);
          return true;
        }
        return this.matchFrom(partIndex + 1, segments, segmentIndex, params);
      case 'splat': {
        const rest = segments.slice(segmentIndex);
        // The catch-all needs a separator before what it takes, as React Router's `*` does: `/files` matches with
        // nothing, `/files/a/b` with ['a', 'b'].
        if (rest.length > 0) params['splat'] = rest.map(decode);
        return true;
      }
    }
  }
}
