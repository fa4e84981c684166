import { ServerResponse } from 'node:http';
import type { EngineMiddleware } from './engine-session-id.guard.js';

/**
 * An Engine.IO middleware that closes the connection of every plain HTTP request to the event server once it is
 * answered (`Connection: close`). The server speaks WebSocket only, so each such answer is a refusal (long-polling,
 * a malformed handshake, a CORS preflight); kept alive, the connection went on being read: Node reads and drops the
 * rest of a request body the answer did not consume, and a client posting an endless chunked body had the server
 * read 2-3 GB from it in 4 s, until Node's `requestTimeout` (300 s). A WebSocket handshake's answer is not an HTTP
 * response object and is left alone.
 */
export const closeAfterEngineAnswers: EngineMiddleware = (_request, response, next) => {
  if (response instanceof ServerResponse && !response.headersSent) response.setHeader('Connection', 'close');
  next();
};
