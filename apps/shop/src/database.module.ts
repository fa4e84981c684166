import { type DynamicModule, Global, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ShopConfig } from './shop.config.js';
import { Product } from './catalog/product.entity.js';
import { User } from './auth/user.entity.js';
import { CartItem } from './cart/cart-item.entity.js';
import { ShopOrder } from './cart/shop-order.entity.js';
import { underSchemaLock } from './schema-lock.js';

/** The shop's database: embedded SQLite by default, Postgres when `DATABASE_URL` is set. */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(config: ShopConfig): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        {
          provide: DataSource,
          useFactory: async () => {
            const entities = [Product, User, CartItem, ShopOrder];
            const dataSource = config.databaseUrl
              ? new DataSource({ type: 'postgres', url: config.databaseUrl, entities })
              : new DataSource({ type: 'better-sqlite3', database: config.sqlitePath, entities });
            await dataSource.initialize();
            // The tables are created (or brought up to the entities) here rather than by `synchronize: true`, under
            // the start-up lock: workers starting at once on a fresh Postgres would otherwise race on CREATE.
            await underSchemaLock(dataSource, () => dataSource.synchronize());
            return dataSource;
          },
        },
      ],
      exports: [DataSource],
    };
  }
}
