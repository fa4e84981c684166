import { UseGuards } from '@nestjs/common';
import { AppState, BridgeError, EventHandler, EventUser, Payload, State } from '@reflex-bridge/nest';
import { LoggedInGuard } from '../auth/logged-in.guard.js';
import type { SessionUser } from '../auth/user.entity.js';
import { ProductService } from '../catalog/product.service.js';
import { ProductIdPipe } from '../catalog/product-id.pipe.js';

/** Different products one cart holds: a shop's cart, not a copy of the catalogue (each cart event re-reads its prices). */
export const MAX_CART_LINES = 100;
/** The most of one product a cart line holds. */
export const MAX_LINE_QUANTITY = 99;

export interface CartLine {
  productId: number;
  name: string;
  /** The product's price (cents) as the catalogue had it at the cart's latest event: what the total counts. */
  price: number;
  quantity: number;
  /** The price when the shopper last added this product: when it differs from {@link price}, the page says so. */
  addedPrice: number;
}

/**
 * The cart: runs on the `full` tier (mode default) and only for logged-in users.
 *
 * A tab's state outlives a logout (its token follows the tab), so the cart is kept with whose it is, as
 * `AccountState` keeps the avatar: its lines are shown only while the auth snapshot names that user, and the next
 * user's first cart event starts an empty cart. Otherwise the next person at the browser saw the last user's cart and
 * added to it. Extending `AppState` keeps the snapshot fresh here too: a logout or login in this or another tab of the
 * browser re-syncs it (and so hides the lines) at once.
 *
 * Prices are the catalogue's, not the cart's: every cart event reads the current price of each line (one query), so
 * the total never counts a price staff have since changed, and a line whose price moved since it was added keeps the
 * added price beside it for the page to show. The cart page asks for them when it opens ({@link refreshPrices}).
 */
@State()
@UseGuards(LoggedInGuard)
export class CartState extends AppState {
  /** The lines, whoever's they are: shown through {@link lines}. */
  _lines: CartLine[] = [];
  /** The user the lines belong to (`''`: nobody signed in, as under PROFILE=reflex_only). */
  _owner = '';

  constructor(private readonly catalogue: ProductService) {
    super();
  }

  /** The cart's lines, while the signed-in user (as the snapshot says) is the one who filled it; empty otherwise. */
  get lines(): CartLine[] {
    return this._owner === this.username ? this._lines : [];
  }

  get total(): number {
    return this.lines.reduce((sum, line) => sum + line.price * line.quantity, 0);
  }

  get count(): number {
    return this.lines.reduce((sum, line) => sum + line.quantity, 0);
  }

  @EventHandler()
  async add(@Payload('productId', ProductIdPipe) productId: number, @EventUser() user: SessionUser | undefined): Promise<void> {
    const lines = this.linesOf(user);
    const product = await this.catalogue.find(productId);
    if (product) {
      const line = lines.find((candidate) => candidate.productId === productId);
      // A BridgeError, not an HttpException: that is mapped to its status on the full tier only (reflex_only runs none).
      if (line && line.quantity >= MAX_LINE_QUANTITY) throw new BridgeError('invalid_payload', `A cart line holds at most ${MAX_LINE_QUANTITY} of a product.`, undefined, 400);
      if (!line && lines.length >= MAX_CART_LINES) throw new BridgeError('invalid_payload', `The cart holds at most ${MAX_CART_LINES} different products.`, undefined, 400);
      // Adding it again is agreeing to its price as shown now.
      if (line) Object.assign(line, { quantity: line.quantity + 1, addedPrice: product.price });
      else lines.push({ productId, name: product.name, price: product.price, quantity: 1, addedPrice: product.price });
    }
    await this.reprice();
  }

  @EventHandler()
  async remove(@Payload('productId', ProductIdPipe) productId: number, @EventUser() user: SessionUser | undefined): Promise<void> {
    this._lines = this.linesOf(user).filter((line) => line.productId !== productId);
    await this.reprice();
  }

  /** Reads the current price of every line (the cart page sends it when it opens, and when the catalogue changes). */
  @EventHandler()
  async refreshPrices(@EventUser() user: SessionUser | undefined): Promise<void> {
    this.linesOf(user);
    await this.reprice();
  }

  @EventHandler()
  clear(@EventUser() user: SessionUser | undefined): void {
    this.linesOf(user);
    this._lines = [];
  }

  /** Sets each line's price and name to the catalogue's current ones; a line whose product is gone is dropped. */
  private async reprice(): Promise<void> {
    if (this._lines.length === 0) return;
    const current = await this.catalogue.findMany(this._lines.map((line) => line.productId));
    this._lines = this._lines.flatMap((line) => {
      const product = current.get(line.productId);
      // A line saved before lines kept their added price: the price it showed then is the one added.
      return product ? [{ ...line, name: product.name, price: product.price, addedPrice: line.addedPrice ?? line.price }] : [];
    });
  }

  /**
   * The lines of `user` (read live from the request, never from the snapshot): someone else's cart is emptied first.
   * No user (PROFILE=reflex_only, where no guard runs): the cart of nobody in particular.
   */
  private linesOf(user: SessionUser | undefined): CartLine[] {
    const owner = user?.username ?? '';
    if (this._owner !== owner) {
      this._lines = [];
      this._owner = owner;
    }
    return this._lines;
  }
}
