/**
 * Where a {@link ReflexClient} is in its connection life cycle.
 *
 * - `idle`: created, `connect()` not called yet.
 * - `connecting`: the first attempt of a `connect()` call is under way.
 * - `connected`: the socket is open and the hydrate sequence was sent; the state is not hydrated yet.
 * - `ready`: the server reported `is_hydrated: true` on this connection; `connect()` has resolved.
 * - `reconnecting`: the connection was lost or an attempt failed; the client is waiting or retrying.
 * - `disconnected`: `disconnect()` was called, `connect()` failed, or the client gave up retrying.
 */
export type ConnectionStatus = 'idle' | 'connecting' | 'connected' | 'ready' | 'reconnecting' | 'disconnected';
