import { Module } from '@nestjs/common';
import { ProductService } from './product.service.js';
import { FilterState } from './filter.state.js';
import { StaffController } from './staff.controller.js';
import { StaffState } from './staff.state.js';
import { StaffGuard } from './staff.guard.js';

@Module({ controllers: [StaffController], providers: [ProductService, FilterState, StaffState, StaffGuard], exports: [ProductService] })
export class CatalogModule {}
