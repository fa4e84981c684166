import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { Product } from '../catalog/product.entity.js';
import { User } from '../auth/user.entity.js';
import { CartItem } from './cart-item.entity.js';
import { ShopOrder } from './shop-order.entity.js';
import { MAX_LINE_QUANTITY } from './cart-limits.js';
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

  it('checks out in one transaction: a failure while emptying the cart leaves no order and the cart as it was', async () => {
    await cart.add(userId, productId);
    await cart.add(userId, productId);
    // The database refuses the second write of the checkout (as a full disk or an I/O error would).
    await dataSource.query("CREATE TRIGGER fail_cart_delete BEFORE DELETE ON cart_item BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END");
    // Matched on its message, not with `toThrow`: better-sqlite3 registers its SqliteError class with the native addon
    // once per process, so in a Jest worker that ran another SQLite spec first the error comes from that spec's realm,
    // is no `instanceof Error` here, and `rejects.toThrow` reported a rejected checkout as "did not throw".
    await expect(cart.checkout(userId)).rejects.toHaveProperty('message', expect.stringMatching(/disk I\/O error/));
    expect(await dataSource.getRepository(ShopOrder).count()).toBe(0);
    expect(await cart.lines(userId)).toEqual([expect.objectContaining({ productId, quantity: 2 })]);
    // Once the database works again the same cart checks out once.
    await dataSource.query('DROP TRIGGER fail_cart_delete');
    const order = await cart.checkout(userId);
    expect(order).toEqual(expect.objectContaining({ userId, total: 2500, createdAt: expect.any(Date), lines: [{ productId, name: 'Mug', price: 1250, quantity: 2 }] }));
    expect(await dataSource.getRepository(ShopOrder).find()).toEqual([expect.objectContaining({ id: order!.id, userId, total: 2500 })]);
    expect(await cart.lines(userId)).toEqual([]);
  });

  it('a failed checkout leaves other writes made meanwhile in place', async () => {
    await cart.add(userId, productId);
    await dataSource.query("CREATE TRIGGER fail_cart_delete BEFORE DELETE ON cart_item BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END");
    const products = dataSource.getRepository(Product);
    const [checkout] = await Promise.allSettled([cart.checkout(userId), products.save({ name: 'Lamp', category: 'home', price: 4000, image: null }), cart.add(2, productId)]);
    expect(checkout.status).toBe('rejected');
    expect(await products.countBy({ name: 'Lamp' })).toBe(1);
    expect(await cart.lines(2)).toEqual([expect.objectContaining({ productId, quantity: 1 })]);
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

/** `WORKERS=N` on a SQLite file: each worker has its own connection, and its turns order only its own changes. */
describe('CartService on one SQLite file shared by two processes', () => {
  const entities = [Product, User, CartItem, ShopOrder];
  let directory: string;
  let first: DataSource;
  let second: DataSource;
  beforeEach(async () => {
    directory = mkdtempSync(join(tmpdir(), 'cart-workers-'));
    const database = join(directory, 'shop.sqlite');
    first = await new DataSource({ type: 'better-sqlite3', database, entities, synchronize: true }).initialize();
    second = await new DataSource({ type: 'better-sqlite3', database, entities }).initialize();
  });
  afterEach(async () => {
    await first.destroy();
    await second.destroy();
    rmSync(directory, { recursive: true, force: true });
  });

  it('two checkouts of one cart at once, one in each worker, make one order', async () => {
    const productId = (await first.getRepository(Product).save({ name: 'Mug', category: 'kitchen', price: 1250, image: null })).id;
    const [a, b] = [new CartService(first), new CartService(second)];
    await a.add(1, productId);
    await a.add(1, productId);
    // Before: each read the full cart before either wrote, and each placed an order of it: two orders, 2 mugs each.
    const [one, other] = await Promise.all([a.checkout(1), b.checkout(1)]);
    expect(await first.getRepository(ShopOrder).count()).toBe(1);
    // The second is answered with the order the cart just became, as in one process.
    expect(one?.id).toBe(other?.id);
    expect(await a.lines(1)).toEqual([]);
  });

  it('adds made at once in two workers all count, and stay within the bounds', async () => {
    const productId = (await first.getRepository(Product).save({ name: 'Mug', category: 'kitchen', price: 1250, image: null })).id;
    const [a, b] = [new CartService(first), new CartService(second)];
    // Before: each read the line (or its absence) before either wrote: one add lost, or a UNIQUE constraint error.
    const added = await Promise.allSettled([a.add(1, productId), b.add(1, productId), a.add(1, productId), b.add(1, productId)]);
    expect(added.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(await a.lines(1)).toEqual([expect.objectContaining({ productId, quantity: 4 })]);
    await first.getRepository(CartItem).update({ userId: 1, productId }, { quantity: MAX_LINE_QUANTITY - 1 });
    const bounded = await Promise.allSettled([a.add(1, productId), b.add(1, productId)]);
    expect(bounded.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    expect(await b.lines(1)).toEqual([expect.objectContaining({ productId, quantity: MAX_LINE_QUANTITY })]);
  });
});
