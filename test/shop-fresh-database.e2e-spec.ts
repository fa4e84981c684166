import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Client } from 'pg';
import { ShopModule } from '../apps/shop/src/shop.module.js';
import { readShopConfig } from '../apps/shop/src/shop.config.js';
import { DEMO_USERS } from '../apps/shop/src/auth/user.service.js';
import { describeWithPostgres, PostgresTestServer } from './support/postgres-server.js';

/** Fresh databases, each started on by two workers at once: the race is timing-dependent, so several tries. */
const ROUNDS = 5;
/** The products the shop seeds on an empty catalogue. */
const SEEDED_PRODUCTS = 8;

describeWithPostgres('two shop workers starting at once on a fresh Postgres database', () => {
  let postgres: PostgresTestServer;
  let admin: Client;
  const apps: INestApplication[] = [];
  beforeAll(async () => {
    postgres = await PostgresTestServer.launch();
    admin = new Client({ connectionString: postgres.connectionString });
    await admin.connect();
  }, 120_000);
  afterAll(async () => {
    for (const app of apps) await app.close().catch(() => undefined);
    await admin?.end();
    await postgres?.destroy();
  });

  it('both start, and the schema and seed rows exist once', async () => {
    const failures: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const database = `fresh_${round}`;
      await admin.query(`CREATE DATABASE ${database}`);
      const url = postgres.connectionString.replace(/\/postgres$/, `/${database}`);
      // Each worker: its own module and connection pool, as two processes of `WORKERS=2` or two hosts.
      const started = await Promise.allSettled(
        [0, 1].map(() => NestFactory.create(ShopModule.forRoot(readShopConfig({ DATABASE_URL: url, SQLITE_PATH: ':memory:', UPLOAD_DIR: `/tmp/shop-fresh-${process.pid}` })), { logger: false, abortOnError: false }).then(async (app) => {
          apps.push(app);
          await app.init();
        })),
      );
      for (const result of started) if (result.status === 'rejected') failures.push(`round ${round}: ${String(result.reason)}`);
      const check = new Client({ connectionString: url });
      await check.connect();
      try {
        const products = Number((await check.query('SELECT count(*) AS n FROM product')).rows[0].n);
        const users = Number((await check.query('SELECT count(*) AS n FROM shop_user')).rows[0].n);
        if (products !== SEEDED_PRODUCTS) failures.push(`round ${round}: ${products} products seeded, not ${SEEDED_PRODUCTS}`);
        if (users !== DEMO_USERS.length) failures.push(`round ${round}: ${users} demo users, not ${DEMO_USERS.length}`);
      } catch (error) {
        failures.push(`round ${round}: ${String(error)}`);
      } finally {
        await check.end();
      }
      while (apps.length > 0) await apps.pop()!.close().catch(() => undefined);
    }
    expect(failures).toEqual([]);
  }, 240_000);
});
