import { describe, expect, it } from '@jest/globals';
import { resolveOptions } from '../reflex-bridge.options.js';
import { InMemoryStateStore } from '../state/store/in-memory-state.store.js';
import type { EventClient } from '../common/event-client.js';
import type { SyntheticRequest } from '../bridge/request/synthetic-request.js';
import { TOKEN_OWNER_KEY, TokenOwnership } from './token-ownership.service.js';

const client: EventClient = { token: 't', sid: 's', headers: {}, remoteAddress: '', emitUpdate: () => undefined, emitError: () => undefined };
const request = (sessionID: string | undefined, user?: object) => ({ sessionID, user }) as unknown as SyntheticRequest;

/** Runs one event's binding step on `token` as the pipeline does, under the token's lease. */
async function afterEvent(ownership: TokenOwnership, store: InMemoryStateStore, token: string, req: SyntheticRequest, before?: string): Promise<void> {
  const lease = await store.acquire(token);
  try {
    await ownership.afterEvent(req, before, client, lease, { state: lease.state ?? {} });
  } finally {
    await lease.release();
  }
}

describe('TokenOwnership', () => {
  const setup = () => {
    const store = new InMemoryStateStore();
    const ownership = new TokenOwnership(resolveOptions({ bridge: { authMiddleware: [(_req, _res, next) => next()] } }), store);
    return { store, ownership };
  };

  it('binds a token to the session of its first authenticated event, storing a hash, never the id', async () => {
    const { store, ownership } = setup();
    await afterEvent(ownership, store, 'tok-1', request('sid-anon'), 'sid-anon');
    expect(await store.read('tok-1')).toBeNull();
    expect(await ownership.mayTake('tok-1', { known: true })).toBe(true);

    await afterEvent(ownership, store, 'tok-1', request('sid-a', { id: 1 }), 'sid-a');
    const stored = await store.read('tok-1');
    expect(JSON.stringify(stored)).not.toContain('sid-a');
    expect(TokenOwnership.ownerOf(stored)).toBe(TokenOwnership.hashOf('sid-a'));
    expect(await ownership.mayTake('tok-1', { known: true, sessionId: 'sid-a' })).toBe(true);
    expect(await ownership.mayTake('tok-1', { known: true, sessionId: 'sid-b' })).toBe(false);
    expect(await ownership.mayTake('tok-1', { known: true })).toBe(false);
    expect(await ownership.mayTake('tok-1', { known: false, sessionId: 'sid-a' })).toBe(false);
  });

  it('reads the owner for the handshake and rejects when the store fails, so the caller can refuse rather than guess', async () => {
    const { store, ownership } = setup();
    await afterEvent(ownership, store, 'tok-9', request('sid-a', { id: 1 }), 'sid-a');
    const owner = await ownership.ownerOfToken('tok-9');
    expect(TokenOwnership.permits(owner, { known: true, sessionId: 'sid-a' })).toBe(true);
    expect(TokenOwnership.permits(owner, { known: true, sessionId: 'sid-b' })).toBe(false);
    expect(TokenOwnership.permits(undefined, { known: false })).toBe(true);
    // The owner entry alone is read (readEntry), never the token's whole state.
    store.read = () => Promise.reject(new Error('the whole state was read'));
    expect(await ownership.ownerOfToken('tok-9')).toBe(owner);
    store.readEntry = () => Promise.reject(new Error('store down'));
    await expect(ownership.ownerOfToken('tok-9')).rejects.toThrow('store down');
    // mayTake still fails closed for its callers: no.
    expect(await ownership.mayTake('tok-9', { known: true, sessionId: 'sid-a' })).toBe(false);
  });

  it('moves the binding when an event changes the session (logout with regeneration), not on other anonymous events', async () => {
    const { store, ownership } = setup();
    await afterEvent(ownership, store, 'tok-2', request('sid-a', { id: 1 }), 'sid-a');
    await afterEvent(ownership, store, 'tok-2', request('sid-random'), 'sid-random');
    expect(TokenOwnership.ownerOf(await store.read('tok-2'))).toBe(TokenOwnership.hashOf('sid-a'));
    await afterEvent(ownership, store, 'tok-2', request('sid-after-logout'), 'sid-a');
    expect(TokenOwnership.ownerOf(await store.read('tok-2'))).toBe(TokenOwnership.hashOf('sid-after-logout'));
  });

  it('keeps the rest of the state, and binds nothing without auth middleware', async () => {
    const { store, ownership } = setup();
    const lease = await store.acquire('tok-3');
    await lease.save({ 'app.counter': { n: 2 } });
    await lease.release();
    await afterEvent(ownership, store, 'tok-3', request('sid-a', { id: 1 }), 'sid-a');
    expect(await store.read('tok-3')).toEqual({ 'app.counter': { n: 2 }, [TOKEN_OWNER_KEY]: { session: TokenOwnership.hashOf('sid-a') } });

    const off = new TokenOwnership(resolveOptions(), store);
    expect(off.enabled).toBe(false);
    await afterEvent(off, store, 'tok-4', request('sid-a', { id: 1 }), 'sid-a');
    expect(await store.read('tok-4')).toBeNull();
  });
});
