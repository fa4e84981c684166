import { ServerResponse } from 'node:http';
import type { EngineMiddleware } from './engine-session-id.guard.js';

/**
 * An Engine.IO middleware giving its HTTP answers `Cache-Control: no-store`: its refusals (`400`, `403` as JSON)
 * carry no header of their own, and Engine.IO answers the event path before Express (and so `NoStorePaths`)
 * sees the request. A WebSocket handshake's answer is not an HTTP response object and is left alone.
 */
export const noStoreEngineAnswers: EngineMiddleware = (_request, response, next) => {
  if (response instanceof ServerResponse && !response.headersSent) response.setHeader('Cache-Control', 'no-store');
  next();
};
