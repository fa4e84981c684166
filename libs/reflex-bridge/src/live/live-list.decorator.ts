import 'reflect-metadata';

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
}

/** One live list var of a state class. */
export interface LiveListDefinition {
  property: string;
  label: string;
  key: string;
  paginated: boolean | ((state: object) => boolean);
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
 *   @LiveList('shop.product') products: ProductRow[] = [];
 *   liveRow(change: ModelChange) { return this.catalogue.find(Number(change.pk)); }
 * }
 * ```
 * @publicApi
 */
export function LiveList(label: string, options: LiveListOptions = {}): PropertyDecorator {
  return (target, property) => {
    const existing: LiveListDefinition[] = Reflect.getOwnMetadata(LIVE_LISTS, target.constructor) ?? [];
    const definition = { property: String(property), label, key: options.key ?? 'id', paginated: options.paginated ?? false };
    Reflect.defineMetadata(LIVE_LISTS, [...existing, definition], target.constructor);
  };
}

/** The live lists declared on a state class and its ancestors. */
export function getLiveLists(cls: object): LiveListDefinition[] {
  const lists: LiveListDefinition[] = [];
  for (let current: object | null = cls; current && current !== Function.prototype; current = Object.getPrototypeOf(current)) {
    lists.push(...((Reflect.getOwnMetadata(LIVE_LISTS, current) as LiveListDefinition[] | undefined) ?? []));
  }
  return lists;
}
