/* global require, module */
/**
 * Jest transform for `@nestjs/throttler`'s CommonJS build, so specs can load it on Node 20.
 *
 * Why: `@nestjs/throttler` 6 ships CommonJS that `require()`s `@nestjs/common` and `@nestjs/core`, which Nest 12
 * ships as ES modules only. Node ≥ 20.19 runs that natively (`require(esm)`), so the apps and the built library
 * work; but Jest's own module loader can `require()` an ES module only on Node ≥ 24.9. This transform points those
 * two requires at the very ES module instances the spec itself uses (one copy of Nest, so DI tokens such as
 * `Reflector` and `instanceof HttpException` still match), which `jest-cjs-esm-interop.setup.ts` publishes before
 * each spec runs. Nothing else in the package is changed.
 */
const { createHash } = require('node:crypto');

const KEY = "Symbol.for('reflex-bridge.jest.esm-for-cjs')";
const REQUIRE = /require\("(@nestjs\/(?:common|core))"\)/g;

module.exports = {
  process(source) {
    return {
      code: source.replace(REQUIRE, (_, name) => `(globalThis[${KEY}] ?? (() => { throw new Error('jest-cjs-esm-interop.setup.ts did not run'); })())[${JSON.stringify(name)}]`),
    };
  },
  getCacheKey(source, path) {
    return createHash('sha1').update('jest-cjs-esm-interop-1').update(path).update(source).digest('hex');
  },
};
