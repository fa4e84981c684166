import { Module } from '@nestjs/common';
import { ProductService } from './product.service.js';
import { FilterState } from './filter.state.js';
import { StaffController } from './staff.controller.js';

@Module({ controllers: [StaffController], providers: [ProductService, FilterState], exports: [ProductService] })
export class CatalogModule {}
