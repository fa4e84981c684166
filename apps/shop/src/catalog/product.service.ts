import { Injectable } from '@nestjs/common';
import { DataSource, In, type Repository } from 'typeorm';
import { Product, toRow, type ProductRow } from './product.entity.js';
import { isProductId } from './product-id.js';
import { retryWhileLocked } from '../sqlite-busy.js';

const SEED: Array<Omit<Product, 'id' | 'image'>> = [
  { name: 'Espresso cup', category: 'kitchen', price: 900 },
  { name: 'Pour-over kettle', category: 'kitchen', price: 4500 },
  { name: 'Linen apron', category: 'kitchen', price: 2800 },
  { name: 'Desk lamp', category: 'office', price: 6200 },
  { name: 'Notebook (dotted)', category: 'office', price: 1200 },
  { name: 'Fountain pen', category: 'office', price: 3900 },
  { name: 'Wool blanket', category: 'home', price: 8900 },
  { name: 'Ceramic vase', category: 'home', price: 3400 },
];

@Injectable()
export class ProductService {
  private readonly repository: Repository<Product>;

  constructor(dataSource: DataSource) {
    this.repository = dataSource.getRepository(Product);
  }

  /** Seeds the catalogue on an empty database. */
  async seed(): Promise<void> {
    if ((await this.repository.count()) === 0) await this.repository.save(SEED.map((row) => this.repository.create(row)));
  }

  async list(): Promise<ProductRow[]> {
    return (await this.repository.find({ order: { id: 'ASC' } })).map(toRow);
  }

  /**
   * One page of the products whose name contains `query` (case-insensitive; `%` and `_` are plain characters) and, when
   * given, of `category`, in id order, with how many match in all. `page` counts from 1.
   */
  async page(filter: { query: string; category: string; page: number; size: number }): Promise<{ rows: ProductRow[]; matching: number }> {
    const builder = this.repository.createQueryBuilder('product').orderBy('product.id', 'ASC');
    const query = filter.query.trim().toLowerCase();
    if (query) builder.andWhere("LOWER(product.name) LIKE :query ESCAPE '\\'", { query: `%${query.replace(/[\\%_]/g, '\\$&')}%` });
    if (filter.category) builder.andWhere('product.category = :category', { category: filter.category });
    const [products, matching] = await builder
      .skip((filter.page - 1) * filter.size)
      .take(filter.size)
      .getManyAndCount();
    return { rows: products.map(toRow), matching };
  }

  /** The categories that have products, sorted. */
  async categories(): Promise<string[]> {
    const rows = await this.repository.createQueryBuilder('product').select('DISTINCT product.category', 'category').orderBy('category', 'ASC').getRawMany<{ category: string }>();
    return rows.map((row) => row.category);
  }

  /** The product with this id; `undefined` for an unknown id, and for a number no product id can be (no query). */
  async find(id: number): Promise<ProductRow | undefined> {
    if (!isProductId(id)) return undefined;
    const product = await this.repository.findOneBy({ id });
    return product ? toRow(product) : undefined;
  }

  /** The products among `ids` that exist now, by id (ids no product can have are skipped, not queried). */
  async findMany(ids: readonly number[]): Promise<Map<number, ProductRow>> {
    const wanted = ids.filter(isProductId);
    if (wanted.length === 0) return new Map();
    const products = await this.repository.findBy({ id: In(wanted) });
    return new Map(products.map((product) => [product.id, toRow(product)]));
  }

  /** Sets the product's price (cents); the product's other columns are left as they are now, not as read. */
  setPrice(id: number, price: number): Promise<ProductRow | undefined> {
    return this.setColumn(id, { price });
  }

  /** Sets the product's picture; the save becomes a live change for every open catalogue. */
  setImage(id: number, image: string): Promise<ProductRow | undefined> {
    return this.setColumn(id, { image });
  }

  async create(row: Omit<ProductRow, 'id' | 'image'>): Promise<ProductRow> {
    return toRow(await retryWhileLocked(() => this.repository.save(this.repository.create(row))));
  }

  /**
   * Writes `values` alone to the product's row and answers the row as it is after. Saving the whole row read a moment
   * before wrote its other columns back as read: an image upload and a price edit on two workers at once lost one of
   * the two. A partial entity makes TypeORM's save update only the columns it holds (`UPDATE ... SET "image" = ...`),
   * and still publish an `updated` live change of this product (a QueryBuilder update would make every list re-read).
   */
  private async setColumn(id: number, values: Partial<Pick<Product, 'price' | 'image'>>): Promise<ProductRow | undefined> {
    if (!isProductId(id)) return undefined;
    // Products are never deleted here: the row found is still there for the save (which would otherwise insert it).
    if (!(await this.repository.existsBy({ id }))) return undefined;
    // One statement in TypeORM's transaction, all or nothing: tried again while another worker holds the file's lock.
    await retryWhileLocked(() => this.repository.save({ id, ...values }));
    return this.find(id);
  }
}
