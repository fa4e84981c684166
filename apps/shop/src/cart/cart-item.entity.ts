import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * One line of a signed-in user's cart, kept with the account: every tab and device of the user shows the same cart.
 * One row per user and product (the unique index), so two tabs adding the same product make one line.
 */
@Entity('cart_item')
@Index(['userId', 'productId'], { unique: true })
export class CartItem {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column({ type: 'integer' })
  userId!: number;

  @Column({ type: 'integer' })
  productId!: number;

  @Column({ type: 'integer' })
  quantity!: number;

  /** The product's price (cents) when the user last added it. */
  @Column({ type: 'integer' })
  addedPrice!: number;
}
