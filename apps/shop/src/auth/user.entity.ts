import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity('shop_user')
export class User {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column({ type: 'varchar', length: 60, unique: true })
  username!: string;

  /** `salt:hash`, scrypt. */
  @Column({ type: 'varchar', length: 200 })
  passwordHash!: string;

  @Column({ type: 'boolean', default: false })
  staff!: boolean;
}

/** The user as the session and handlers see it (no password hash). */
export interface SessionUser {
  id: number;
  username: string;
  staff: boolean;
}
