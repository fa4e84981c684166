import { BridgeTier, EventHandler, LiveList, LocalStorage, type ModelChange, OnLoad, Payload, RouteParam, State } from '@reflex-bridge/nest';
import { Throttle } from '@nestjs/throttler';
import type { ProductRow } from './product.entity.js';
import { ProductService } from './product.service.js';
import { isProductId } from './product-id.js';
import { SEARCH_LIMIT } from './search-limit.js';

/** Products a catalogue page shows: what each tab's state holds, whatever the size of the catalogue. */
export const CATALOGUE_PAGE_SIZE = 24;

/**
 * The product list and its filter: pure UI state, so it runs on the `none` tier and never pays for
 * sessions or auth. The list is live: price changes and new products reach every open page. The web app's pages
 * load it through an on-load handler, and the chosen category is kept in the browser's localStorage, so a new
 * tab opens on it (and, with `sync`, open tabs follow a change).
 *
 * A tab holds one page of the catalogue ({@link CATALOGUE_PAGE_SIZE} products), filtered and paged by the database:
 * every tab's state held the whole catalogue, sent twice (`products` and `visible`), 300 KB per tab for 2,000
 * products, and a catalogue of some 10,000 passed `maxStateBytes`, so that no page loaded at all.
 */
@State()
@BridgeTier('none')
export class FilterState {
  /** The page shown; a product created while it has room is appended (the last page), else it shows on a reload. */
  @LiveList('shop.product', { paginated: (state) => (state as FilterState).products.length >= CATALOGUE_PAGE_SIZE || (state as FilterState).productPage !== 0 })
  products: ProductRow[] = [];
  query = '';
  @LocalStorage({ sync: true })
  category = '';
  /** The page of the filtered catalogue shown, from 1. */
  page = 1;
  /** How many products match the filter, over all pages. */
  matching = 0;
  /** The categories that have products. */
  categories: string[] = [];
  /**
   * The category the list was read for. Another tab's choice reaches this state through localStorage sync, which
   * sets `category` alone: the page then reads the list again (`setCategory`) when the two differ.
   */
  listedCategory = '';
  /** The product of a product page (`/product/[id]`), whose list holds that product alone; 0 elsewhere. */
  productPage = 0;

  constructor(private readonly catalogue: ProductService) {}

  /** The products shown that match the filter (a live change may bring one that no longer does). */
  get visible(): ProductRow[] {
    const query = this.query.trim().toLowerCase();
    return this.products.filter(
      (product) => (!query || product.name.toLowerCase().includes(query)) && (!this.category || product.category === this.category),
    );
  }

  get pageCount(): number {
    return Math.max(1, Math.ceil(this.matching / CATALOGUE_PAGE_SIZE));
  }

  /** The row a live change refers to, as this page shows it (every product is public in this shop). */
  liveRow(change: ModelChange): Promise<ProductRow | undefined> {
    return this.catalogue.find(Number(change.pk));
  }

  /** The catalogue, on each page of the web app that shows products (the list, a product, the cart's links). */
  @OnLoad('/', '/cart', '/product/[id]')
  // Sent as an event, it reads as much as a search: the same limit (a page's own on-load run is not counted).
  @Throttle({ default: SEARCH_LIMIT })
  async load(@RouteParam('id') id: unknown): Promise<void> {
    this.categories = await this.catalogue.categories();
    // A product page shows its product, wherever it is in the catalogue (`id` is the path's text, client input).
    const productId = typeof id === 'string' && /^\d{1,10}$/.test(id) ? Number(id) : 0;
    if (id !== undefined) {
      const product = isProductId(productId) ? await this.catalogue.find(productId) : undefined;
      this.productPage = productId;
      this.products = product ? [product] : [];
      return;
    }
    await this.showPage(this.page);
  }

  /** One event per pause in the typing (the web app's box waits 250 ms); each costs two queries, hence the per-address limit. */
  @EventHandler()
  @Throttle({ default: SEARCH_LIMIT })
  async setQuery(@Payload('value') value: string): Promise<void> {
    // No NUL character: Postgres refuses U+0000 in any text parameter.
    this.query = value.slice(0, 100).replaceAll('\0', '');
    await this.showPage(1);
  }

  @EventHandler()
  @Throttle({ default: SEARCH_LIMIT })
  async setCategory(@Payload('value') value: string): Promise<void> {
    this.category = value.slice(0, 100).replaceAll('\0', '');
    await this.showPage(1);
  }

  /** Shows page `value` of the filtered catalogue (the nearest page that exists, for any number). */
  @EventHandler()
  @Throttle({ default: SEARCH_LIMIT })
  async setPage(@Payload('value') value: number): Promise<void> {
    await this.showPage(Number.isFinite(value) ? Math.min(Math.max(1, Math.trunc(value)), this.pageCount) : 1);
  }

  /** Reads page `page` of the filtered catalogue; past the last page (products were removed): the last one. */
  private async showPage(page: number): Promise<void> {
    const filter = { query: this.query, category: this.category, size: CATALOGUE_PAGE_SIZE };
    let result = await this.catalogue.page({ ...filter, page });
    const last = Math.max(1, Math.ceil(result.matching / CATALOGUE_PAGE_SIZE));
    if (page > last) result = await this.catalogue.page({ ...filter, page: (page = last) });
    this.productPage = 0;
    this.listedCategory = this.category;
    this.page = page;
    this.matching = result.matching;
    this.products = result.rows;
  }
}
