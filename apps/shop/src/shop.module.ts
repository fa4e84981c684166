import { type DynamicModule, Inject, Module, type OnApplicationBootstrap } from '@nestjs/common';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
import type { ShopConfig } from './shop.config.js';
import { DatabaseModule } from './database.module.js';
import { AuthModule } from './auth/auth.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from './auth/auth-middleware.js';
import { UserService } from './auth/user.service.js';
import { CatalogModule } from './catalog/catalog.module.js';
import { ProductService } from './catalog/product.service.js';
import { CartModule } from './cart/cart.module.js';

const SHOP_CONFIG = Symbol('ShopConfig');

@Module({})
export class ShopModule implements OnApplicationBootstrap {
  constructor(
    private readonly products: ProductService,
    private readonly users: UserService,
    @Inject(SHOP_CONFIG) private readonly config: ShopConfig,
  ) {}

  static forRoot(config: ShopConfig): DynamicModule {
    const auth = AuthModule.forRoot(config);
    return {
      module: ShopModule,
      imports: [
        DatabaseModule.forRoot(config),
        auth,
        CatalogModule,
        CartModule,
        ReflexBridgeModule.forRootAsync({
          imports: [auth],
          inject: [AUTH_MIDDLEWARE],
          useFactory: (middleware: AuthMiddleware) => ({
            production: config.production,
            bridge: { mode: 'full', authMiddleware: middleware.chain },
          }),
        }),
      ],
      providers: [{ provide: SHOP_CONFIG, useValue: config }],
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.users.seed();
    await this.products.seed();
  }
}
