import { Injectable } from '@nestjs/common';
import { BridgeError } from '@reflex-bridge/nest';
import { DataSource, In, type EntityManager } from 'typeorm';
import { Product } from '../catalog/product.entity.js';
import { isProductId } from '../catalog/product-id.js';
import { CartItem } from './cart-item.entity.js';
import type { CartLine } from './cart-line.js';
import { MAX_CART_LINES, MAX_LINE_QUANTITY } from './cart-limits.js';
import { ShopOrder } from './shop-order.entity.js';
import { retryWhileLocked } from '../sqlite-busy.js';

/** How recent an order must be for a checkout of the emptied cart to be answered with it (a second click, another tab). */
export const JUST_PLACED_SECONDS = 60;

/** What the checkout uses of the better-sqlite3 connection under TypeORM's SQLite driver (its types are not installed). */
interface SqliteDatabase {
  transaction<T>(work: () => T): { immediate(): T };
  prepare(sql: string): { run(...parameters: unknown[]): { lastInsertRowid: number | bigint }; all(...parameters: unknown[]): unknown[]; get(...parameters: unknown[]): unknown };
}

/** The user's cart lines at the catalogue's current prices, as {@link CartService.lines} reads them (gone products left out). */
const SQLITE_CART_LINES = `SELECT c."productId" AS "productId", p."name" AS "name", p."price" AS "price", c."quantity" AS "quantity"
  FROM "cart_item" c JOIN "product" p ON p."id" = c."productId" WHERE c."userId" = ? ORDER BY c."id"`;

/**
 * The carts of signed-in users, kept in the database with the account: every tab and device of a user reads and
 * changes the same cart. A user's cart changes one at a time, whatever the worker: each change runs inside a
 * transaction holding the user's row (`SELECT ... FOR UPDATE` on Postgres; on SQLite, in turn within the process, and
 * a checkout in one IMMEDIATE transaction across the workers of a file), so two tabs adding at once stay within the
 * bounds, and two checkouts at once make one order.
 *
 * Lines are answered at the catalogue's current prices and names (a line whose product is gone is dropped).
 */
@Injectable()
export class CartService {
  /** Per user, the end of the chain of changes this process runs for them (gone once the last one settles). */
  private readonly turns = new Map<number, Promise<unknown>>();

  constructor(private readonly dataSource: DataSource) {}

  /** The user's lines, in the order first added. */
  lines(userId: number): Promise<CartLine[]> {
    return this.read(this.dataSource.manager, userId);
  }

  /** Adds one of the product (an unknown product adds nothing); refused past the cart's bounds. */
  add(userId: number, productId: number): Promise<CartLine[]> {
    return this.inTurn(userId, async (manager) => {
      if (this.dataSource.options.type !== 'postgres') {
        // One transaction, all or nothing: tried again while another worker of the file holds its write lock.
        await retryWhileLocked(() => this.addOnSqlite(userId, productId));
        return this.read(manager, userId);
      }
      // Through the change's own connection: a read on another one, while this holds its connection (and, on
      // Postgres, the user's row), would wait for a free connection that other carts' changes hold the same way.
      const product = isProductId(productId) ? await manager.getRepository(Product).findOneBy({ id: productId }) : null;
      const items = manager.getRepository(CartItem);
      if (product) {
        const item = await items.findOneBy({ userId, productId });
        refuseBeyondBounds(item?.quantity, item ? 0 : await items.countBy({ userId }));
        // Adding it again is agreeing to its price as shown now.
        if (item) await items.update({ id: item.id }, { quantity: item.quantity + 1, addedPrice: product.price });
        else await items.insert({ userId, productId, quantity: 1, addedPrice: product.price });
      }
      return this.read(manager, userId);
    });
  }

  /**
   * {@link add} on SQLite: the reads and the write in one synchronous transaction begun IMMEDIATE (the file's write
   * lock first), as {@link placeOrderOnSqlite} does, so an add on another worker of the file (`WORKERS=N`) waits for
   * this one: two at once each read the line, or its absence, and one add was lost or failed on the line's UNIQUE index.
   */
  private addOnSqlite(userId: number, productId: number): void {
    if (!isProductId(productId)) return;
    const database = this.sqlite();
    database
      .transaction(() => {
        const product = database.prepare('SELECT "price" FROM "product" WHERE "id" = ?').get(productId) as { price: number } | undefined;
        if (!product) return;
        const item = database.prepare('SELECT "id", "quantity" FROM "cart_item" WHERE "userId" = ? AND "productId" = ?').get(userId, productId) as { id: number; quantity: number } | undefined;
        const lines = item ? 0 : (database.prepare('SELECT count(*) AS "n" FROM "cart_item" WHERE "userId" = ?').get(userId) as { n: number }).n;
        refuseBeyondBounds(item?.quantity, lines);
        if (item) database.prepare('UPDATE "cart_item" SET "quantity" = ?, "addedPrice" = ? WHERE "id" = ?').run(item.quantity + 1, product.price, item.id);
        else database.prepare('INSERT INTO "cart_item" ("userId", "productId", "quantity", "addedPrice") VALUES (?, ?, 1, ?)').run(userId, productId, product.price);
      })
      .immediate();
  }

  remove(userId: number, productId: number): Promise<CartLine[]> {
    return this.inTurn(userId, async (manager) => {
      await retryWhileLocked(() => manager.getRepository(CartItem).delete({ userId, productId }));
      return this.read(manager, userId);
    });
  }

  async clear(userId: number): Promise<void> {
    await this.inTurn(userId, (manager) => retryWhileLocked(() => manager.getRepository(CartItem).delete({ userId })));
  }

  /**
   * Turns the cart into an order at the catalogue's current prices and empties it. An empty cart makes no order: a
   * second click, or another tab checking out at the same moment, is answered with the order the cart just became
   * (the user's newest, if placed within {@link JUST_PLACED_SECONDS}), so one cart makes one order. `undefined`: the
   * cart is empty and no order was just placed (an older one is not this checkout's: a stale page whose cart was
   * emptied elsewhere was told last week's order had been placed).
   */
  checkout(userId: number): Promise<ShopOrder | undefined> {
    return this.inTurn(userId, async (manager) => {
      const placed = this.dataSource.options.type === 'postgres' ? await this.placeOrder(manager, userId) : await this.placeOrderOnSqlite(manager, userId);
      if (placed) return placed;
      // Measured on the database's clock (it set `createdAt`), so the app's clock and time zone play no part.
      const recent = this.dataSource.options.type === 'postgres' ? `now() - interval '${JUST_PLACED_SECONDS} seconds'` : `datetime('now', '-${JUST_PLACED_SECONDS} seconds')`;
      const orders = manager.getRepository(ShopOrder);
      return (await orders.createQueryBuilder('o').where('o.userId = :userId', { userId }).andWhere(`o.createdAt > ${recent}`).orderBy('o.id', 'DESC').getOne()) ?? undefined;
    });
  }

  /**
   * Postgres: reads the cart, writes the order and empties the cart inside the turn's transaction, which holds the
   * user's row (`FOR UPDATE`): both writes or neither, and a checkout on another worker waits for this one and then
   * finds the cart empty. `undefined`: the cart is empty.
   */
  private async placeOrder(manager: EntityManager, userId: number): Promise<ShopOrder | undefined> {
    const lines = await this.read(manager, userId);
    if (lines.length === 0) return undefined;
    const order = await manager.getRepository(ShopOrder).save(this.orderOf(manager, userId, lines));
    await manager.createQueryBuilder().delete().from(CartItem).where({ userId }).execute();
    return order;
  }

  /**
   * SQLite: reads the cart, writes the order and empties the cart in one synchronous better-sqlite3 transaction begun
   * IMMEDIATE. Both writes or neither: a failure between the two (a full disk, an I/O error, the process killed) left
   * the order written and the cart still full, which a second checkout ordered again. Nothing can interleave: not this
   * process's other changes (its one connection is shared by every change, so a TypeORM transaction held across awaits
   * would take in other users' writes, and roll them back with its own), and not another worker on the same file
   * (`WORKERS=N`), whose turns order only its own changes: IMMEDIATE takes the file's write lock before the read, so a
   * checkout there waits for this one and finds the cart empty (two workers each read the full cart and each placed
   * an order of it). `undefined`: the cart is empty.
   */
  private async placeOrderOnSqlite(manager: EntityManager, userId: number): Promise<ShopOrder | undefined> {
    const database = this.sqlite();
    const [deleteSql, deleteParameters] = manager.createQueryBuilder().delete().from(CartItem).where({ userId }).getQueryAndParameters();
    const id = await retryWhileLocked(() =>
      database
        .transaction(() => {
          const lines = database.prepare(SQLITE_CART_LINES).all(userId) as Array<Pick<CartLine, 'productId' | 'name' | 'price' | 'quantity'>>;
          if (lines.length === 0) return undefined;
          const [insertSql, insertParameters] = manager.createQueryBuilder().insert().into(ShopOrder).values(this.orderOf(manager, userId, lines)).getQueryAndParameters();
          const inserted = database.prepare(insertSql).run(...insertParameters);
          database.prepare(deleteSql).run(...deleteParameters);
          return Number(inserted.lastInsertRowid);
        })
        .immediate(),
    );
    return id === undefined ? undefined : manager.getRepository(ShopOrder).findOneByOrFail({ id });
  }

  /** The order of these lines, at the prices they carry. */
  private orderOf(manager: EntityManager, userId: number, lines: Array<Pick<CartLine, 'productId' | 'name' | 'price' | 'quantity'>>): ShopOrder {
    return manager.getRepository(ShopOrder).create({
      userId,
      lines: lines.map(({ productId, name, price, quantity }) => ({ productId, name, price, quantity })),
      total: lines.reduce((sum, line) => sum + line.price * line.quantity, 0),
    });
  }

  /** The better-sqlite3 connection under TypeORM's SQLite driver (one per process). */
  private sqlite(): SqliteDatabase {
    return (this.dataSource.driver as unknown as { databaseConnection: SqliteDatabase }).databaseConnection;
  }

  private async read(manager: EntityManager, userId: number): Promise<CartLine[]> {
    const items = await manager.getRepository(CartItem).find({ where: { userId }, order: { id: 'ASC' } });
    if (items.length === 0) return [];
    const products = await manager.getRepository(Product).findBy({ id: In(items.map((item) => item.productId)) });
    const current = new Map(products.map((product) => [product.id, product]));
    return items.flatMap((item) => {
      const product = current.get(item.productId);
      return product ? [{ productId: item.productId, name: product.name, price: product.price, quantity: item.quantity, addedPrice: item.addedPrice }] : [];
    });
  }

  /** Runs `change` after the user's earlier changes in this process, holding the user's row on Postgres (other workers). */
  private inTurn<T>(userId: number, change: (manager: EntityManager) => Promise<T>): Promise<T> {
    const run = (): Promise<T> =>
      this.dataSource.options.type === 'postgres'
        ? this.dataSource.transaction(async (manager) => {
            await manager.query('SELECT 1 FROM shop_user WHERE id = $1 FOR UPDATE', [userId]);
            return change(manager);
          })
        : // SQLite: one connection for the process, whose transactions would interleave; the turn is the lock.
          change(this.dataSource.manager);
    const previous = this.turns.get(userId) ?? Promise.resolve();
    const result = previous.then(run, run);
    const settled = result.catch(() => undefined);
    this.turns.set(userId, settled);
    void settled.then(() => {
      if (this.turns.get(userId) === settled) this.turns.delete(userId);
    });
    return result;
  }
}

/**
 * Refuses one more of a product past the cart's bounds: `quantity` is the line's (undefined: no line yet), `lines` the
 * cart's number of lines when there is none. A BridgeError, not an HttpException: that is mapped to its status on the
 * full tier only (reflex_only runs none).
 */
function refuseBeyondBounds(quantity: number | undefined, lines: number): void {
  if (quantity !== undefined && quantity >= MAX_LINE_QUANTITY) throw new BridgeError('invalid_payload', `A cart line holds at most ${MAX_LINE_QUANTITY} of a product.`, undefined, 400);
  if (quantity === undefined && lines >= MAX_CART_LINES) throw new BridgeError('invalid_payload', `The cart holds at most ${MAX_CART_LINES} different products.`, undefined, 400);
}
