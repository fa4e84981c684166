import { Module } from '@nestjs/common';
import { ProductService } from './product.service.js';
import { FilterState } from './filter.state.js';

@Module({ providers: [ProductService, FilterState], exports: [ProductService] })
export class CatalogModule {}
