import { type DynamicModule, Module, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { LiveBroadcaster, ReflexBridgeModule, registerLiveModel, TypeormLiveSubscriber } from '@reflex-bridge/nest';
import { Product } from './catalog/product.entity.js';
import type { ShopConfig } from './shop.config.js';
import { DatabaseModule } from './database.module.js';
import { AuthModule } from './auth/auth.module.js';
import { AUTH_MIDDLEWARE, SESSION_KEY_PREFIX, type AuthMiddleware } from './auth/auth-middleware.js';
import { UserService } from './auth/user.service.js';
import { CatalogModule } from './catalog/catalog.module.js';
import { ProductService } from './catalog/product.service.js';
import { CartModule } from './cart/cart.module.js';
import { LikesModule } from './likes/likes.module.js';

@Module({})
export class ShopModule implements OnApplicationBootstrap {
  constructor(
    private readonly products: ProductService,
    private readonly users: UserService,
    private readonly dataSource: DataSource,
    private readonly live: LiveBroadcaster,
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
        LikesModule,
        ReflexBridgeModule.forRootAsync({
          imports: [auth],
          inject: [AUTH_MIDDLEWARE],
          useFactory: (middleware: AuthMiddleware) => ({
            production: config.production,
            // Several workers: states, the event cache, live updates and the socket adapter share this Redis.
            redisUrl: config.redisUrl,
            // Sessions in Redis: one deleted or expired there (not through a logout) ends at once on every worker.
            sessionStore: config.redisUrl ? { prefix: SESSION_KEY_PREFIX } : undefined,
            bridge: { mode: 'full', authMiddleware: middleware.chain, trustProxy: config.trustProxy },
          }),
        }),
      ],
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    // Every insert, update and delete of a product becomes a live change for open pages.
    registerLiveModel(Product, 'shop.product');
    new TypeormLiveSubscriber(this.live).attach(this.dataSource);
    await this.users.seed();
    await this.products.seed();
  }
}
