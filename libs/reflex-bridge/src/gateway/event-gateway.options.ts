import type { GatewayMetadata } from '@nestjs/websockets';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import type { OriginPolicy } from '../security/origin-policy.js';
import { guardedSocketIoParser, type FrameGuardSettings } from '../security/guarded-socket-io.parser.js';
import { handshakeQueryRefusal } from '../security/handshake-query.check.js';

/**
 * The `@WebSocketGateway` options of `/_event`, from the module options: the Engine.IO path and the Socket.IO
 * namespace (both the event `path`, as Reflex clients expect), WebSocket only, the frame limit, ping timings,
 * CORS and the origin check. Whichever adapter the app installed (`app.useWebSocketAdapter`) creates the server
 * from these.
 */
export function eventGatewayOptions(
  options: ResolvedReflexBridgeOptions,
  origins: OriginPolicy,
  onFrameClose?: FrameGuardSettings['onClose'],
): GatewayMetadata {
  const { path, maxMessageBytes, maxTotalUnfinishedInboundBytes, pingIntervalMs, pingTimeoutMs, corsOrigins } = options;
  return {
    path,
    namespace: path,
    transports: ['websocket'],
    allowUpgrades: false,
    serveClient: false,
    // The transport refuses frames over twice the limit outright (closing that connection); frames between the
    // limit and that bound are read, answered with payload_too_large, and dropped (see ConnectionLimits).
    maxHttpBufferSize: maxMessageBytes * 2,
    // Every frame of every connection is looked at before Socket.IO parses it: other namespaces, nesting, oversized
    // frames and binary attachments (see guardedSocketIoParser); the connections it closes are told to onFrameClose.
    parser: guardedSocketIoParser({ namespace: path, maxMessageBytes, maxPendingBinaryBytes: maxTotalUnfinishedInboundBytes, onClose: onFrameClose }),
    pingInterval: pingIntervalMs,
    pingTimeout: pingTimeoutMs,
    ...(corsOrigins !== undefined ? { cors: { origin: corsOrigins, credentials: true } } : {}),
    // First a query the server can serve (see handshakeQueryRefusal); then, as CORS does not govern WebSocket
    // upgrades and browsers send cookies with them from any page, the origin policy refuses handshakes from other
    // origins than the app's own and the listed ones. Both answer before the upgrade, with a readable refusal.
    allowRequest: (request, callback) => {
      const refusal = handshakeQueryRefusal(request);
      if (refusal === undefined) origins.allowRequest(request, callback);
      else callback(refusal, false);
    },
    // split_dev: other upgrades on this server (Vite's HMR socket) belong to the dev-server proxy, which may take
    // longer than Engine.IO's one-second grace to reach the dev server; it closes the ones it does not proxy.
    ...(options.profile === 'split_dev' ? { destroyUpgrade: false } : {}),
  };
}
