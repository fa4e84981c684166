import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity('product')
export class Product {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column({ type: 'varchar', length: 120 })
  name!: string;

  @Column({ type: 'varchar', length: 40 })
  category!: string;

  /** Price in cents. */
  @Column({ type: 'integer' })
  price!: number;

  /** The product's picture, a `/_upload/products/...` URL; null until staff attach one. */
  @Column({ type: 'varchar', length: 200, nullable: true })
  image!: string | null;
}

/** A product as the UI state holds it (plain data, JSON-safe). */
export interface ProductRow {
  id: number;
  name: string;
  category: string;
  price: number;
  /** The picture's URL, `''` without one. */
  image: string;
}

export function toRow(product: Product): ProductRow {
  return { id: product.id, name: product.name, category: product.category, price: product.price, image: product.image ?? '' };
}
