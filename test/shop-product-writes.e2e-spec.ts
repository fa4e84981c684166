import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type DataSourceOptions, type EntitySubscriberInterface } from 'typeorm';
import { Product } from '../apps/shop/src/catalog/product.entity.js';
import { ProductService } from '../apps/shop/src/catalog/product.service.js';
import { User } from '../apps/shop/src/auth/user.entity.js';
import { PostgresTestServer } from './support/postgres-server.js';

/**
 * Two shop workers on one database, each with its own DataSource and ProductService, as the shop runs with several
 * workers. A one-shot `afterQuery` hook on worker A lets worker B write between A's read of the product and A's save:
 * the interleaving two staff members (an image upload, a price edit) meet by chance, made certain here.
 */
function suite(name: string, options: () => Promise<{ a: DataSourceOptions; b: DataSourceOptions; cleanup: () => Promise<void> }>): void {
  describe(`the shop's product writes on ${name}: two workers at once`, () => {
    let a: DataSource;
    let b: DataSource;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      const resolved = await options();
      cleanup = resolved.cleanup;
      a = await new DataSource(resolved.a).initialize();
      b = await new DataSource(resolved.b).initialize();
      await new ProductService(a).seed();
    });
    afterAll(async () => {
      await a?.destroy();
      await b?.destroy();
      await cleanup?.();
    });

    /**
     * Runs `write` on worker B once, right after worker A's next read of the product table (then the hook is gone):
     * between what A read and what A writes, whatever A reads (the whole row, or whether it exists).
     */
    const afterNextReadOfA = (write: () => Promise<unknown>): void => {
      let done = false;
      const hook: EntitySubscriberInterface = {
        afterQuery: async (event) => {
          if (done || !/^\s*SELECT\b/i.test(event.query) || !/"product"/.test(event.query)) return;
          done = true;
          a.subscribers.splice(a.subscribers.indexOf(hook), 1);
          await write();
        },
      };
      a.subscribers.push(hook);
    };

    it('keeps a price edit made while an image upload is being recorded', async () => {
      // Before: setImage read the row, then saved it whole; TypeORM's save compares with the row as it is then, so the
      // price B had just set differed and was written back to the old one: the staff edit was silently lost.
      const [workerA, workerB] = [new ProductService(a), new ProductService(b)];
      const before = (await workerB.find(1))!;
      afterNextReadOfA(() => workerB.setPrice(1, before.price + 111));
      await workerA.setImage(1, '/_upload/products/product-1.abc.png');
      expect(await workerB.find(1)).toMatchObject({ price: before.price + 111, image: '/_upload/products/product-1.abc.png' });
    });

    it('keeps an image recorded while a price edit is being saved', async () => {
      // Before: the price edit wrote the image back to the one it had read, naming a picture the upload had removed.
      const [workerA, workerB] = [new ProductService(a), new ProductService(b)];
      const before = (await workerB.find(2))!;
      afterNextReadOfA(() => workerB.setImage(2, '/_upload/products/product-2.def.png'));
      await workerA.setPrice(2, before.price + 7);
      expect(await workerB.find(2)).toMatchObject({ price: before.price + 7, image: '/_upload/products/product-2.def.png' });
    });

    it('answers undefined for a product that does not exist, and creates none', async () => {
      const worker = new ProductService(a);
      const count = await a.getRepository(Product).count();
      expect(await worker.setImage(999_999, '/_upload/products/x.png')).toBeUndefined();
      expect(await worker.setPrice(999_999, 5)).toBeUndefined();
      expect(await a.getRepository(Product).count()).toBe(count);
    });
  });
}

const entities = [Product, User];

suite('SQLite (one file, two connections)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shop-writes-'));
  const database = join(dir, 'shop.sqlite');
  return {
    a: { type: 'better-sqlite3', database, entities, synchronize: true },
    b: { type: 'better-sqlite3', database, entities, synchronize: false },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

if (PostgresTestServer.findBinDir() !== undefined || process.env.CI === 'true') {
  suite('Postgres', async () => {
    const server = await PostgresTestServer.launch();
    const url = server.connectionString;
    return {
      a: { type: 'postgres', url, entities, synchronize: true },
      b: { type: 'postgres', url, entities, synchronize: false },
      cleanup: () => server.destroy(),
    };
  });
}
