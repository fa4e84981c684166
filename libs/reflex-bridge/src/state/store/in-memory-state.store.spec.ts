import { describeStateStoreContract } from './state-store.contract.js';
import { InMemoryStateStore } from './in-memory-state.store.js';

describeStateStoreContract('InMemoryStateStore', ({ ttlSeconds }) => new InMemoryStateStore({ ttlSeconds }));
