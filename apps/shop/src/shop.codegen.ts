import { readShopConfig } from './shop.config.js';
import { ShopModule } from './shop.module.js';

/**
 * What `reflex-bridge codegen` boots to read the shop's states (the build's step before the web app): the shop on
 * its embedded defaults (in-memory SQLite, no Redis), whatever the environment says.
 */
export default function shopForCodegen() {
  return ShopModule.forRoot(readShopConfig({}));
}
