import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { ECHO_STATE, ON_LOAD_INTERNAL, ROOT } from '../harness/wire.js';

/** A running baseline server. */
export interface EchoServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The baseline: bare Socket.IO (the version the library uses), WebSocket transport only, the same path and
 * namespace (`/_event`) and the same message shape: it receives `event` `{name, payload, router_data}` and
 * answers `event` `{delta: {...}}`. It does the least a server can do per event (bump a per-socket counter),
 * so the bridge's ratio to it is the price of everything the bridge adds.
 */
export async function startEchoServer(): Promise<EchoServer> {
  const http = createServer();
  const io = new Server(http, { path: '/_event', transports: ['websocket'], allowUpgrades: false, serveClient: false });
  const namespace = io.of('/_event');
  namespace.on('connection', (socket) => {
    let count = 0;
    socket.on('event', (frame: { name?: unknown }) => {
      // The hydrate sequence ends with is_hydrated, as the bridge does, so the load generator needs no special case.
      if (frame?.name === ON_LOAD_INTERNAL) {
        socket.emit('event', { delta: { [ROOT]: { is_hydrated_rx_state_: true } } });
        return;
      }
      socket.emit('event', { delta: { [ECHO_STATE]: { count_rx_state_: ++count } } });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      io.disconnectSockets(true);
      await io.close();
    },
  };
}
