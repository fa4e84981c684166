import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { Product } from '../catalog/product.entity.js';
import { User } from '../auth/user.entity.js';
import { CartItem } from './cart-item.entity.js';
import { ShopOrder } from './shop-order.entity.js';
import { CartService } from './cart.service.js';

/** The cart on the shop's embedded default: a real SQLite database in memory. */
describe('CartService on SQLite', () => {
  let dataSource: DataSource;
  let cart: CartService;
  let productId: number;
  const userId = 1;
  beforeEach(async () => {
    dataSource = await new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Product, User, CartItem, ShopOrder], synchronize: true }).initialize();
    cart = new CartService(dataSource);
    productId = (await dataSource.getRepository(Product).save({ name: 'Mug', category: 'kitchen', price: 1250, image: null })).id;
  });
  afterEach(async () => {
    await dataSource.destroy();
  });

  it('answers an empty cart with the order it just became, but not with an old order', async () => {
    await cart.add(userId, productId);
    const order = await cart.checkout(userId);
    // A second click, or another tab checking out at the same moment: the same order.
    expect((await cart.checkout(userId))?.id).toBe(order!.id);
    // Before: an empty cart (emptied in another tab, a stale page's button) answered with the newest order however
    // old, and the page said "Order #1 placed" for last week's order. Now it is an empty cart.
    await dataSource.query(`UPDATE shop_order SET "createdAt" = datetime('now', '-1 day')`);
    expect(await cart.checkout(userId)).toBeUndefined();
    expect(await dataSource.getRepository(ShopOrder).count()).toBe(1);
  });
});
