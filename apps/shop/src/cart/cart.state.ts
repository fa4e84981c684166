import { UseGuards } from '@nestjs/common';
import { Throttle } from '@nestjs/throttler';
import { AppState, BridgeError, EventHandler, EventUser, Payload, State } from '@reflex-bridge/nest';
import { LoggedInGuard } from '../auth/logged-in.guard.js';
import type { SessionUser } from '../auth/user.entity.js';
import { ProductService } from '../catalog/product.service.js';
import { ProductIdPipe } from '../catalog/product-id.pipe.js';
import { CartService } from './cart.service.js';
import type { CartLine } from './cart-line.js';
import { MAX_CART_LINES, MAX_LINE_QUANTITY } from './cart-limits.js';
import { CHECKOUT_LIMIT } from './checkout-limit.js';

export { MAX_CART_LINES, MAX_LINE_QUANTITY } from './cart-limits.js';
export type { CartLine } from './cart-line.js';

/** The order a checkout made, as the page shows it. */
export interface PlacedOrder {
  id: number;
  /** Cents. */
  total: number;
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
  /** The order the owner's latest checkout from this tab made (null: none yet). */
  _order: PlacedOrder | null = null;

  constructor(
    private readonly catalogue: ProductService,
    private readonly carts: CartService,
  ) {
    super();
  }

  /** The order of the latest checkout, while the signed-in user is the one who made it. */
  get order(): PlacedOrder | null {
    return this._owner === this.username ? this._order : null;
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
    if (user) {
      this._lines = await this.carts.add(user.id, productId);
      return;
    }
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
    this.linesOf(user);
    if (user) {
      this._lines = await this.carts.remove(user.id, productId);
      return;
    }
    this._lines = this._lines.filter((line) => line.productId !== productId);
    await this.reprice();
  }

  /**
   * Reads the cart again, at the catalogue's current prices: the page sends it when it opens, when the catalogue
   * changes, and when the tab comes back to the front (another tab or device may have changed the user's cart).
   */
  @EventHandler()
  async refreshPrices(@EventUser() user: SessionUser | undefined): Promise<void> {
    this.linesOf(user);
    if (user) {
      this._lines = await this.carts.lines(user.id);
      return;
    }
    await this.reprice();
  }

  @EventHandler()
  async clear(@EventUser() user: SessionUser | undefined): Promise<void> {
    this.linesOf(user);
    if (user) await this.carts.clear(user.id);
    this._lines = [];
  }

  /**
   * Orders what the cart holds, at the catalogue's current prices, and empties the cart. One cart makes one order:
   * a double click, or two tabs checking out at once, show the same order ({@link CartService.checkout}).
   */
  @EventHandler()
  @Throttle({ default: CHECKOUT_LIMIT })
  async checkout(@EventUser() user: SessionUser | undefined): Promise<void> {
    this.linesOf(user);
    // No user where no guard runs (PROFILE=reflex_only): nobody to make the order for.
    if (!user) throw new BridgeError('unauthorized', 'Please log in to check out.', undefined, 401);
    const order = await this.carts.checkout(user.id);
    if (!order) throw new BridgeError('invalid_payload', 'The cart is empty.', undefined, 400);
    this._order = { id: order.id, total: order.total };
    this._lines = await this.carts.lines(user.id);
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
      this._order = null;
      this._owner = owner;
    }
    return this._lines;
  }
}
