import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** A line of an order: the product as it was sold. */
export interface OrderLine {
  productId: number;
  name: string;
  /** Price (cents) the line was ordered at: the catalogue's at checkout. */
  price: number;
  quantity: number;
}

/** An order: what a user's cart held at checkout, at the prices of that moment. */
@Entity('shop_order')
export class ShopOrder {
  @PrimaryGeneratedColumn()
  id!: number;

  @Index()
  @Column({ type: 'integer' })
  userId!: number;

  @Column({ type: 'simple-json' })
  lines!: OrderLine[];

  /**
   * Cents; past an `integer` column (100 lines of 99 at up to 2^31 - 1 cents), below 2^53: a JavaScript number is
   * exact (Postgres answers a bigint as text, read back as a number).
   */
  @Column({ type: 'bigint', transformer: { to: (value: number) => value, from: (value: string | number) => Number(value) } })
  total!: number;

  @CreateDateColumn()
  createdAt!: Date;
}
