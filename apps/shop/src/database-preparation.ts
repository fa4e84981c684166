import { DataSource } from 'typeorm';
import type { ShopConfig } from './shop.config.js';
import { Product } from './catalog/product.entity.js';
import { ProductService } from './catalog/product.service.js';
import { User } from './auth/user.entity.js';
import { UserService } from './auth/user.service.js';
import { CartItem } from './cart/cart-item.entity.js';
import { ShopOrder } from './cart/shop-order.entity.js';
import { underSchemaLock } from './schema-lock.js';
import { SQLITE_BUSY_TIMEOUT_MS } from './sqlite-busy.js';

/**
 * Opens the shop's database (embedded SQLite by default, Postgres when `DATABASE_URL` is set) and creates its tables,
 * or brings them up to the entities, under the start-up lock (rather than by `synchronize: true`: workers starting at
 * once on a fresh Postgres would otherwise race on CREATE). On a database already up to date this writes nothing.
 */
export async function openDatabase(config: ShopConfig): Promise<DataSource> {
  const entities = [Product, User, CartItem, ShopOrder];
  const dataSource = config.databaseUrl
    ? new DataSource({ type: 'postgres', url: config.databaseUrl, entities })
    : // WAL on a file: readers never wait for a writer. In the default rollback journal a read waited, with the
      // worker's event loop blocked (better-sqlite3 waits synchronously, up to its 5 s busy timeout), whenever
      // another worker (WORKERS=N) or process held the write lock: every socket of the worker stalled, then the read
      // failed. Writers still wait for each other, each wait bounded by SQLITE_BUSY_TIMEOUT_MS and retried without
      // holding the loop (retryWhileLocked): see docs/deploy.md. `:memory:` has no journal to change.
      new DataSource({ type: 'better-sqlite3', database: config.sqlitePath, entities, enableWAL: config.sqlitePath !== ':memory:', timeout: SQLITE_BUSY_TIMEOUT_MS });
  await dataSource.initialize();
  try {
    await underSchemaLock(dataSource, () => dataSource.synchronize());
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
  return dataSource;
}

/**
 * Seeds the demo accounts (when the config asks for them) and the catalogue on an empty database, under the start-up
 * lock: two workers seeding a fresh database at once both saw no rows, and both inserted them (a doubled catalogue,
 * or a duplicate demo username that stopped a worker). Rows already there are left alone.
 */
export async function seedDatabase(dataSource: DataSource, config: ShopConfig, users = new UserService(dataSource), products = new ProductService(dataSource)): Promise<void> {
  await underSchemaLock(dataSource, async () => {
    if (config.demoUsers) await users.seed();
    await products.seed();
  });
}

/**
 * Creates the schema and seeds the rows, then closes the database: what the cluster primary does before forking
 * `WORKERS` on a SQLite file. SQLite has no start-up lock across processes (Postgres has its advisory lock), and
 * workers starting at once on a fresh file raced: two inserted the demo user `demo`, one died on the UNIQUE
 * constraint and was forked again. Prepared first, each worker finds the tables and rows in place and writes nothing.
 */
export async function prepareDatabase(config: ShopConfig): Promise<void> {
  const dataSource = await openDatabase(config);
  try {
    await seedDatabase(dataSource, config);
  } finally {
    await dataSource.destroy();
  }
}
