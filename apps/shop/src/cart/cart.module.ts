import { Module } from '@nestjs/common';
import { CatalogModule } from '../catalog/catalog.module.js';
import { CartService } from './cart.service.js';
import { CartState } from './cart.state.js';

@Module({ imports: [CatalogModule], providers: [CartState, CartService] })
export class CartModule {}
