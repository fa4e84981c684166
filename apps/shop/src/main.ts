import 'reflect-metadata';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { readShopConfig } from './shop.config.js';
import { ShopModule } from './shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from './auth/auth-middleware.js';
import { mountHttpRoutes } from './http-routes.js';

async function bootstrap(): Promise<void> {
  const config = readShopConfig();
  const app = await NestFactory.create(ShopModule.forRoot(config));
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
  app.enableShutdownHooks();
  mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
  await app.listen(config.port);
  app.get(ShopModule); // fail fast if the module graph is broken
  console.log(`Shop listening on http://localhost:${config.port}`);
}

await bootstrap();
