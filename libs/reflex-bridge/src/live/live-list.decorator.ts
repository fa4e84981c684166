import 'reflect-metadata';
import { MAX_LABEL_LENGTH } from './model-change.js';

/** Options of {@link LiveList}. */
export interface LiveListOptions {
  /**
   * The row field holding the model's primary key.
   * @default 'id'
   */
  key?: string;
  /**
   * Whether the list shows one page of results: created rows are then not inserted (they belong to some
   * page, not necessarily this one). A function decides per client state.
   * @default false
   */
  paginated?: boolean | ((state: object) => boolean);
  /**
   * What a subscriber's `liveReload` answer depends on besides its user: subscribers of the same user (on a
   * `none`-tier state, every anonymous one) whose key is the same string share one `liveReload` run per refetch
   * instead of running it each. Return every client var the query reads (e.g. `(state) => state.category`), or
   * `undefined` for a subscriber that must reload alone. Without it every subscriber runs its own.
   * @default undefined (not shared)
   */
  reloadKey?: (state: object) => string | undefined;
}

/** One live list var of a state class. */
export interface LiveListDefinition {
  property: string;
  label: string;
  key: string;
  paginated: boolean | ((state: object) => boolean);
  reloadKey?: (state: object) => string | undefined;
}

const LIVE_LISTS = Symbol('reflex-bridge:live-lists');

/**
 * Declares a list var live for a model label: once the client calls the state's `live_subscribe` handler
 * (from page load), every `ModelChange` of that label patches the list and the delta is pushed to the
 * client, until it disconnects. Rows are fetched through the state's `liveRow(change, user)` method when it
 * has one (return `undefined` when that user may not see the row), else taken from `change.data`. On a
 * `refetch` (a bulk write: which rows changed is unknown) the list becomes what the state's
 * `liveReload(property, user)` answers (its query run again) when it has one, else its rows are read again
 * through `liveRow`.
 * Override `applyLiveChange(change, property, user)` on the state to apply changes yourself.
 * @example
 * ```ts
 * @State()
 * export class ProductsState {
 *   constructor(private readonly catalogue: ProductService) {}
 *   @LiveList('shop.product') products: ProductRow[] = [];
 *   liveRow(change: ModelChange) { return this.catalogue.find(Number(change.pk)); }
 * }
 * ```
 * @publicApi
 */
export function LiveList(label: string, options: LiveListOptions = {}): PropertyDecorator {
  // Checked here, when the state class is loaded: a label no ModelChange can carry, or a key or paginated of the
  // wrong type, left the list silently unchanged by every change (no error anywhere).
  if (typeof label !== 'string' || label.trim() === '' || label.length > MAX_LABEL_LENGTH) {
    throw new TypeError(
      `@LiveList: the label must be a non-empty string of at most ${MAX_LABEL_LENGTH} characters, such as 'shop.product' (the label your changes are published under), got ${showOption(label)}`,
    );
  }
  if (options.key !== undefined && (typeof options.key !== 'string' || options.key === '')) {
    throw new TypeError(`@LiveList('${label}'): key must be the name of the row field holding the primary key (a non-empty string), got ${showOption(options.key)}`);
  }
  if (options.paginated !== undefined && typeof options.paginated !== 'boolean' && typeof options.paginated !== 'function') {
    throw new TypeError(`@LiveList('${label}'): paginated must be true, false or a function (state) => boolean, got ${showOption(options.paginated)}`);
  }
  return (target, property) => {
    const existing: LiveListDefinition[] = Reflect.getOwnMetadata(LIVE_LISTS, target.constructor) ?? [];
    const definition: LiveListDefinition = { property: String(property), label, key: options.key ?? 'id', paginated: options.paginated ?? false };
    if (options.reloadKey !== undefined) {
      if (typeof options.reloadKey !== 'function') throw new TypeError(`@LiveList('${label}'): reloadKey must be a function (state) => string | undefined`);
      definition.reloadKey = options.reloadKey;
    }
    Reflect.defineMetadata(LIVE_LISTS, [...existing, definition], target.constructor);
  };
}

/** A short rendering of a bad option value for an error message. */
function showOption(value: unknown): string {
  if (typeof value === 'string' && value.length > 40) return `${JSON.stringify(value.slice(0, 40))}… (${value.length} characters)`;
  return typeof value === 'function' ? 'a function' : String(JSON.stringify(value) ?? value);
}

/** The live lists declared on a state class and its ancestors. */
export function getLiveLists(cls: object): LiveListDefinition[] {
  const lists: LiveListDefinition[] = [];
  for (let current: object | null = cls; current && current !== Function.prototype; current = Object.getPrototypeOf(current)) {
    lists.push(...((Reflect.getOwnMetadata(LIVE_LISTS, current) as LiveListDefinition[] | undefined) ?? []));
  }
  return lists;
}
