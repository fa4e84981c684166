import { UseGuards } from '@nestjs/common';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway, type WsResponse } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import { ON_LOAD_INTERNAL, ROOT } from '../harness/wire.js';
import { PEER_STATE, type PeerEventFrame, type PeerUpdate } from './peer-wire.js';
import { SessionGuard } from './session.guard.js';

/**
 * A peer of the `tiers` benchmark: the gateway a Nest developer writes without this module. Socket.IO on the
 * same path and namespace as the bridge (`/_event`, WebSocket only), `@SubscribeMessage('event')` behind a
 * session guard, the tab's state kept on its socket, and one small var changed per event, answered with the
 * same `event` `{delta}` the bridge emits. It has none of the bridge's machinery (no state classes, tiers,
 * per-tab queue, limits or delta computation): what it costs is Nest's message pipeline plus the session load.
 */
@WebSocketGateway({ path: '/_event', namespace: '/_event', transports: ['websocket'], serveClient: false })
export class HandWrittenGateway {
  @UseGuards(SessionGuard)
  @SubscribeMessage('event')
  onEvent(@ConnectedSocket() client: Socket<never, never, never, { count?: number }>, @MessageBody() frame: PeerEventFrame): WsResponse<PeerUpdate> {
    // The hydrate sequence ends with is_hydrated, as the bridge does, so the load generator needs no special case.
    if (frame?.name === ON_LOAD_INTERNAL) return { event: 'event', data: { delta: { [ROOT]: { is_hydrated_rx_state_: true } }, events: [], final: true } };
    const count = (client.data.count ?? 0) + 1;
    client.data.count = count;
    return { event: 'event', data: { delta: { [PEER_STATE]: { count_rx_state_: count } }, events: [], final: true } };
  }
}
