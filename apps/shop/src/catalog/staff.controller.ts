import { Body, Controller, NotFoundException, Param, ParseIntPipe, Patch, Post, UseGuards } from '@nestjs/common';
import { IsIn, IsInt, IsString, Length, Matches, Max, Min } from 'class-validator';
import { LoggedInGuard } from '../auth/logged-in.guard.js';
import { ProductService } from './product.service.js';
import { MAX_INTEGER_COLUMN } from './product-id.js';
import { StaffGuard } from './staff.guard.js';
import { answeredBusyOverHttp } from '../sqlite-busy.js';
import type { ProductRow } from './product.entity.js';

// Prices in cents, within the price column (larger ones were a 500 from Postgres).
export class PriceDto {
  @IsInt() @Min(0) @Max(MAX_INTEGER_COLUMN) price!: number;
}

export class NewProductDto {
  // No NUL character: Postgres refuses U+0000 in text (it was a 500).
  @IsString() @Length(1, 120) @Matches(/^[^\0]*$/, { message: 'name must not contain a NUL character' }) name!: string;
  @IsIn(['kitchen', 'office', 'home']) category!: string;
  @IsInt() @Min(0) @Max(MAX_INTEGER_COLUMN) price!: number;
}

/**
 * Staff-only HTTP endpoints that change the catalogue. They publish nothing themselves: the TypeORM
 * live subscriber turns each save into a ModelChange, and every open page updates. Logged out: 401; not staff: 403.
 */
@Controller('staff/products')
@UseGuards(LoggedInGuard, StaffGuard)
export class StaffController {
  constructor(private readonly catalogue: ProductService) {}

  @Patch(':id')
  async setPrice(@Param('id', ParseIntPipe) id: number, @Body() body: PriceDto): Promise<ProductRow> {
    const product = await answeredBusyOverHttp(this.catalogue.setPrice(id, body.price));
    if (!product) throw new NotFoundException(`No product ${id}`);
    return product;
  }

  @Post()
  create(@Body() body: NewProductDto): Promise<ProductRow> {
    return answeredBusyOverHttp(this.catalogue.create(body));
  }
}
