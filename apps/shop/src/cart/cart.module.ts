import { Module } from '@nestjs/common';
import { CatalogModule } from '../catalog/catalog.module.js';
import { CartState } from './cart.state.js';

@Module({ imports: [CatalogModule], providers: [CartState] })
export class CartModule {}
