import type { ServerResponse } from 'node:http';
import type { AddressKeying } from './client-address.js';
import { closeIfBodyUnread } from './lingering-close.js';

/**
 * Answers a request of one of the module's own HTTP routes that never reads a request body (the cookie handoff,
 * Reflex's ping and health, the devtools): `body` as `contentType`, never cached, never sniffed as another type by a
 * browser (which could then render or run it). A request that sent a body anyway is not read on: the connection
 * closes after the answer (see {@link closeIfBodyUnread}).
 */
export function answerWithoutBody(res: ServerResponse, keying: AddressKeying, status: number, contentType: string, body: string): void {
  closeIfBodyUnread(res, keying);
  res.statusCode = status;
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Type', contentType);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(body);
}
