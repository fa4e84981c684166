import { UseGuards } from '@nestjs/common';
import { BridgeError, EventHandler, Payload, State } from '@reflex-bridge/nest';
import { LoggedInGuard } from '../auth/logged-in.guard.js';
import { ProductService } from '../catalog/product.service.js';
import { isProductId } from '../catalog/product-id.js';

export interface CartLine {
  productId: number;
  name: string;
  price: number;
  quantity: number;
}

/** The cart: runs on the `full` tier (mode default) and only for logged-in users. */
@State()
@UseGuards(LoggedInGuard)
export class CartState {
  lines: CartLine[] = [];

  constructor(private readonly catalogue: ProductService) {}

  get total(): number {
    return this.lines.reduce((sum, line) => sum + line.price * line.quantity, 0);
  }

  get count(): number {
    return this.lines.reduce((sum, line) => sum + line.quantity, 0);
  }

  @EventHandler()
  async add(@Payload('productId') productId: number): Promise<void> {
    checkProductId(productId);
    const product = await this.catalogue.find(productId);
    if (!product) return;
    const line = this.lines.find((candidate) => candidate.productId === productId);
    if (line) line.quantity++;
    else this.lines.push({ productId, name: product.name, price: product.price, quantity: 1 });
  }

  @EventHandler()
  remove(@Payload('productId') productId: number): void {
    checkProductId(productId);
    this.lines = this.lines.filter((line) => line.productId !== productId);
  }

  @EventHandler()
  clear(): void {
    this.lines = [];
  }
}

/**
 * Refuses a number no product can have (`1.5`, `2^31`) with `invalid_payload`, on every tier: the payload check only
 * says "a number", and Postgres answers such an id with an error, which reached the client as a `handler_error`.
 */
function checkProductId(productId: number): void {
  if (!isProductId(productId)) {
    throw new BridgeError('invalid_payload', 'payload.productId must be a product id.', [`payload.productId: expected a positive integer, got ${productId}`]);
  }
}
