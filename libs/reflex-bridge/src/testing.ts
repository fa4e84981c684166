/**
 * `@reflex-bridge/nest/testing`: the contract test suites the built-in state stores and live transports pass,
 * shipped so that a third-party `StateStore` or `LiveTransport` can prove it behaves the same.
 *
 * The suites register ordinary Jest tests (they import `describe`, `it`, `expect` and `afterEach` from
 * `@jest/globals`), so they run inside Jest only: install `jest` and `@jest/globals` (an optional peer dependency
 * of this package) as dev dependencies, and call a suite at the top level of a spec file. Importing this entry
 * point outside Jest fails, which is why it is a separate export and not part of `@reflex-bridge/nest`.
 *
 * ```ts
 * // my-store.spec.ts
 * import { describeStateStoreContract, describeLiveTransportContract } from '@reflex-bridge/nest/testing';
 * import { MyStateStore } from './my-state.store.js';
 * import { MyTransport } from './my.transport.js';
 *
 * describeStateStoreContract('MyStateStore', ({ ttlSeconds }) => new MyStateStore({ url, ttlSeconds }));
 * describeLiveTransportContract('MyTransport', (channel) => new MyTransport({ url, channel }));
 * ```
 *
 * Each test builds its own instances through the factory and closes them afterwards. The suites wait for real
 * time to pass (the state store suite waits out a one-second TTL, the transport suite waits for deliveries), so
 * give them a real server and Jest's default timeout or more.
 *
 * @packageDocumentation
 */
export { describeStateStoreContract, type StateStoreFactory } from './state/store/state-store.contract.js';
export { describeLiveTransportContract, type LiveTransportFactory } from './live/live-transport.contract.js';
