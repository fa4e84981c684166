/**
 * Jest 30 in native ESM mode (run through `node --experimental-vm-modules`), TypeScript compiled by SWC with
 * legacy decorators and decorator metadata, which Nest's dependency injection needs.
 */
const swc = [
  '@swc/jest',
  {
    jsc: {
      target: 'es2022',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      keepClassNames: true,
    },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];

const shared = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': swc,
    // @nestjs/throttler is CommonJS requiring Nest's ES modules: see test/support/jest-cjs-esm-interop.cjs.
    '/node_modules/@nestjs/throttler/dist/.+\\.js$': '<rootDir>/test/support/jest-cjs-esm-interop.cjs',
  },
  transformIgnorePatterns: ['/node_modules/(?!@nestjs/throttler/)'],
  setupFilesAfterEnv: ['<rootDir>/test/support/jest-cjs-esm-interop.setup.ts'],
  moduleNameMapper: {
    '^@reflex-bridge/nest$': '<rootDir>/libs/reflex-bridge/src/index.ts',
    '^@reflex-bridge/nest/testing$': '<rootDir>/libs/reflex-bridge/src/testing.ts',
    '^@reflex-bridge/client$': '<rootDir>/libs/reflex-client/src/index.ts',
    '^@reflex-bridge/react$': '<rootDir>/libs/reflex-react/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testEnvironment: 'node',
  // Scratch copies (benchmarks, pack tests) and build output are never part of the test run.
  modulePathIgnorePatterns: ['<rootDir>/.tmp/', '<rootDir>/.*/dist/', '<rootDir>/bench/'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/.tmp/'],
};

/**
 * The module takes node-redis 5 and 6 (its `redis` peer range). The repository installs 6 as `redis`, which every
 * spec uses, and 5 as `redis-5`: these specs, which between them use every Redis feature of the module in the spec's
 * own process (state store and its lock hand-over, event cache, rate limits, live fan-out, the Socket.IO adapter, a
 * Redis Cluster and its failover, outages), run a second time with `redis` resolved to node-redis 5
 * (`npm run test:e2e:node-redis-5`).
 */
const NODE_REDIS_5_SPECS = [
  'redis-state-store',
  'event-cache',
  'rate-limit',
  'live-redis',
  'nest-gateway',
  'token-resync',
  'redis-backlog',
  'redis-cluster',
  'cluster-link',
];

export default {
  // Jest's ESM mode keeps every spec file's module graph (Nest, socket.io, TypeORM...) alive in the process that ran
  // it: ~30-50 MB per e2e file, 3.6 GB and an out-of-memory abort after ~100 of them in one process. A worker whose
  // memory passes this after a file is replaced by a fresh one before the next file.
  workerIdleMemoryLimit: '1GB',
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/libs/**/src/**/*.spec.ts', '<rootDir>/apps/**/src/**/*.spec.ts'] },
    {
      ...shared,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      // The specs run one at a time in one worker (--maxWorkers=1): an error of a socket nobody listens to says whose
      // socket it is.
      setupFilesAfterEnv: [...shared.setupFilesAfterEnv, '<rootDir>/test/support/unheard-socket-errors.ts'],
    },
    {
      ...shared,
      displayName: 'e2e-node-redis-5',
      testMatch: ['<rootDir>/test/node-redis-5.mapping-spec.ts', ...NODE_REDIS_5_SPECS.map((name) => `<rootDir>/test/${name}.e2e-spec.ts`)],
      moduleNameMapper: { '^redis$': 'redis-5', ...shared.moduleNameMapper },
      setupFilesAfterEnv: [...shared.setupFilesAfterEnv, '<rootDir>/test/support/unheard-socket-errors.ts'],
    },
  ],
};
