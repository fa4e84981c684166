import { BridgeTier, EventHandler, LiveList, LocalStorage, type ModelChange, OnLoad, Payload, State } from '@reflex-bridge/nest';
import type { ProductRow } from './product.entity.js';
import { ProductService } from './product.service.js';

/**
 * The product list and its filter: pure UI state, so it runs on the `none` tier and never pays for
 * sessions or auth. The list is live: price changes and new products reach every open page. The web app's pages
 * load it through an on-load handler, and the chosen category is kept in the browser's localStorage, so a new
 * tab opens on it (and, with `sync`, open tabs follow a change).
 */
@State()
@BridgeTier('none')
export class FilterState {
  @LiveList('shop.product')
  products: ProductRow[] = [];
  query = '';
  @LocalStorage({ sync: true })
  category = '';

  constructor(private readonly catalogue: ProductService) {}

  /** The products matching the filter (a computed var, sent whenever its inputs change). */
  get visible(): ProductRow[] {
    const query = this.query.trim().toLowerCase();
    return this.products.filter(
      (product) => (!query || product.name.toLowerCase().includes(query)) && (!this.category || product.category === this.category),
    );
  }

  get categories(): string[] {
    return [...new Set(this.products.map((product) => product.category))].sort();
  }

  /** The row a live change refers to, as this page shows it (every product is public in this shop). */
  liveRow(change: ModelChange): Promise<ProductRow | undefined> {
    return this.catalogue.find(Number(change.pk));
  }

  /** The catalogue, on each page of the web app that shows products (the list, a product, the cart's links). */
  @OnLoad('/', '/cart', '/product/[id]')
  async load(): Promise<void> {
    this.products = await this.catalogue.list();
  }

  @EventHandler()
  setQuery(@Payload('value') value: string): void {
    this.query = value.slice(0, 100);
  }

  @EventHandler()
  setCategory(@Payload('value') value: string): void {
    this.category = value.slice(0, 100);
  }
}
