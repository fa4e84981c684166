import { type DynamicModule, Global, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ShopConfig } from './shop.config.js';
import { openDatabase } from './database-preparation.js';

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
          useFactory: () => openDatabase(config),
        },
      ],
      exports: [DataSource],
    };
  }
}
