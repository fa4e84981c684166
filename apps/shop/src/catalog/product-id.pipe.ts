import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';
import { isProductId } from './product-id.js';

/**
 * Refuses a number no product can have (`1.5`, `1e300`, `2^31`) with a 400, which an event answers as
 * `invalid_payload` (`@Payload('productId', ProductIdPipe)`), on every tier: the payload's type check only says "a
 * number", and Postgres answers such an id with an error, which reached the client as a `handler_error`.
 */
@Injectable()
export class ProductIdPipe implements PipeTransform<number, number> {
  transform(value: number): number {
    if (!isProductId(value)) throw new BadRequestException(`expected a product id (a positive integer), got ${String(value).slice(0, 40)}`);
    return value;
  }
}
