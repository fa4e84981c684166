import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DynamicModule, Inject, Module, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ThrottlerModule, type ThrottlerStorage } from '@nestjs/throttler';
import { DevtoolsQuerySubscriber, LiveBroadcaster, RATE_LIMIT_STORAGE, ReflexBridgeModule, registerLiveModel, TypeormLiveSubscriber } from '@reflex-bridge/nest';
import { Product } from './catalog/product.entity.js';
import type { ShopConfig } from './shop.config.js';
import { DatabaseModule } from './database.module.js';
import { seedDatabase } from './database-preparation.js';
import { AuthModule } from './auth/auth.module.js';
import { AUTH_MIDDLEWARE, SESSION_KEY_PREFIX, type AuthMiddleware } from './auth/auth-middleware.js';
import { UserService } from './auth/user.service.js';
import { LOGIN_LIMIT } from './auth/login-limit.js';
import { CatalogModule } from './catalog/catalog.module.js';
import { ProductService } from './catalog/product.service.js';
import { CartModule } from './cart/cart.module.js';
import { LikesModule } from './likes/likes.module.js';
import { UploadsModule } from './uploads/uploads.module.js';
import { MAX_IMAGE_BYTES } from './uploads/image-store.js';

/** The built web app (`vite build` of apps/shop/web; `npm run build` makes it). */
const WEB_DIST = join(dirname(fileURLToPath(import.meta.url)), '..', 'web', 'dist');

/** DI token of the shop's {@link ShopConfig}. */
const SHOP_CONFIG = Symbol('ShopConfig');

@Module({})
export class ShopModule implements OnApplicationBootstrap {
  constructor(
    private readonly products: ProductService,
    private readonly users: UserService,
    private readonly dataSource: DataSource,
    private readonly live: LiveBroadcaster,
    @Inject(SHOP_CONFIG) private readonly config: ShopConfig,
  ) {}

  static forRoot(config: ShopConfig): DynamicModule {
    const auth = AuthModule.forRoot(config);
    const uploadDirectory = resolve(config.uploadDir);
    return {
      module: ShopModule,
      providers: [{ provide: SHOP_CONFIG, useValue: config }],
      imports: [
        DatabaseModule.forRoot(config),
        UploadsModule.forRoot(uploadDirectory),
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
            // Browsers may act with the user's cookies from the shop's own origin and these only (socket,
            // login handoff, and the POST routes through SameOriginMiddleware).
            corsOrigins: config.frontendOrigins,
            // Sessions in Redis: one deleted or expired there (not through a logout) ends at once on every worker.
            sessionStore: config.redisUrl ? { prefix: SESSION_KEY_PREFIX } : undefined,
            // PROFILE: integrated (the built web app, served with its deep links and asset caching), split_dev (Vite's
            // dev server behind the shop's port) or reflex_only (events without the app's middleware).
            profile: config.profile,
            spa: config.profile === 'split_dev' ? undefined : { rootPath: WEB_DIST },
            devServer: config.profile === 'split_dev' ? { url: config.devServerUrl } : undefined,
            // Every event through the app's session and passport chain, except in reflex_only, which runs none.
            bridge: { mode: config.profile === 'reflex_only' ? undefined : 'full', authMiddleware: middleware.chain, trustProxy: config.trustProxy },
            // DEVTOOLS=1 (development only): what each event cost, at /_bridge/devtools.
            devtools: config.devtools,
            // Avatars and product pictures: one image per upload, refused (413) past the shop's image cap.
            uploads: { directory: uploadDirectory, maxFiles: 1, maxFileBytes: MAX_IMAGE_BYTES },
          }),
        }),
        // HTTP rate limits (the login route) count in the bridge's rate-limit storage: Redis with REDIS_URL, so
        // every worker shares them, as the event limits do.
        ThrottlerModule.forRootAsync({
          inject: [RATE_LIMIT_STORAGE],
          useFactory: (storage: ThrottlerStorage) => ({ throttlers: [{ name: 'default', ...LOGIN_LIMIT }], storage }),
        }),
      ],
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    // Every insert, update and delete of a product becomes a live change for open pages.
    registerLiveModel(Product, 'shop.product');
    new TypeormLiveSubscriber(this.live).attach(this.dataSource);
    // Devtools count and time each handler's queries.
    if (this.config.devtools) new DevtoolsQuerySubscriber().attach(this.dataSource);
    await seedDatabase(this.dataSource, this.config, this.users, this.products);
  }
}
