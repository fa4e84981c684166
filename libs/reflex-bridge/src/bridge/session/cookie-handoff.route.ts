import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RESOLVED_OPTIONS } from '../../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../../reflex-bridge.options.js';
import { OriginPolicy } from '../../security/origin-policy.js';
import { allowCrossOrigin, answerPlainOptions, approvePreflight } from '../../security/cross-origin-headers.js';
import { CookieHandoffService, isHandoffId } from './cookie-handoff.service.js';
import { parseCookieHeader } from '../request/cookie-header.js';
import { pathAfterRoute } from '../../common/path-after-route.js';
import { undecodedRoutePath } from '../../common/undecoded-route-path.js';
import { decodedPathPart } from '../../common/decoded-path-part.js';
import { closeIfBodyUnread } from '../../security/lingering-close.js';
import { answerWithoutBody } from '../../security/answer-without-body.js';
import { addressKeyingOf, type AddressKeying } from '../../security/client-address.js';

/** Request header carrying the handoff's secret, which the tab received over its socket. @publicApi */
export const HANDOFF_SECRET_HEADER = 'x-reflex-handoff';
/** Request header carrying the redeeming tab's client token (the header Reflex uses for uploads too). @publicApi */
export const CLIENT_TOKEN_HEADER = 'reflex-client-token';

/** Longest header value read: a secret or token is far shorter; anything longer is not one. */
const MAX_PROOF_CHARS = 256;

function singleHeader(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_PROOF_CHARS ? value : undefined;
}

function answer(res: ServerResponse, keying: AddressKeying, status: number, body: { code: string; message: string } | { ok: true }): void {
  answerWithoutBody(res, keying, status, 'application/json', JSON.stringify(body));
}

/**
 * Serves `POST <cookieHandoffPath>/<id>`: answers with the `Set-Cookie` headers an event parked under that
 * single-use id (see {@link CookieHandoffService}), to the tab that ran the event only.
 *
 * - A browser request from an origin the {@link OriginPolicy} refuses (another site's page posting a form, say)
 *   gets 403 `origin_not_allowed`, and the handoff stays unspent.
 * - A request without the `X-Reflex-Handoff` secret and `Reflex-Client-Token` headers gets 403 `handoff_refused`.
 *   Custom headers also mean a cross-origin page needs a CORS preflight, which is approved only for origins in
 *   `corsOrigins` (a frontend served from its own origin).
 * - A spent, expired or unknown id, a wrong secret, another tab's token, or other session cookies than the
 *   socket had get 410 `handoff_invalid`.
 */
@Injectable()
export class CookieHandoffRoute implements OnModuleInit {
  /** How a request's client address is keyed, for the lingering close's share. */
  private readonly keying: AddressKeying;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly handoffs: CookieHandoffService,
    private readonly origins: OriginPolicy,
  ) {
    this.keying = addressKeyingOf(options);
  }

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return;
    const prefix = `${this.options.cookieHandoffPath}/`;
    // The id is read and decoded here, not by Express: a malformed escape in it is this route's 410, not Express's 400.
    const route = undecodedRoutePath(prefix, 'segment');
    adapter.options(route, (req: IncomingMessage, res: ServerResponse) => {
      // Answered without reading a body, 204 included: a preflight that sends one anyway is not read on (see
      // closeIfBodyUnread); kept alive, Node read and dropped an endless body until its requestTimeout.
      closeIfBodyUnread(res, this.keying);
      // The preflight of a frontend on a listed origin; nothing else is approved (a request naming no origin, or the
      // app's own, is told the route's methods).
      if (approvePreflight(this.origins, req, res, `${HANDOFF_SECRET_HEADER}, ${CLIENT_TOKEN_HEADER}`)) return;
      if (answerPlainOptions(this.origins, req, res, 'OPTIONS, POST')) return;
      answer(res, this.keying, 403, { code: 'origin_not_allowed', message: 'Requests from this origin are not allowed here.' });
    });
    adapter.post(route, async (req: IncomingMessage, res: ServerResponse) => {
      const verdict = this.origins.check(req);
      if (!verdict.allowed) {
        this.origins.reportRefusal(verdict, 'a session cookie handoff');
        answer(res, this.keying, 403, { code: 'origin_not_allowed', message: 'Requests from this origin are not allowed here.' });
        return;
      }
      allowCrossOrigin(this.origins, req, res);
      const secret = singleHeader(req.headers[HANDOFF_SECRET_HEADER]);
      const clientToken = singleHeader(req.headers[CLIENT_TOKEN_HEADER]);
      if (!secret || !clientToken) {
        answer(res, this.keying, 403, {
          code: 'handoff_refused',
          message: `Redeem the handoff from the tab it was sent to, with the ${HANDOFF_SECRET_HEADER} and ${CLIENT_TOKEN_HEADER} headers.`,
        });
        return;
      }
      // Malformed percent-encoding: no id, so the handoff's own 410.
      const id = decodedPathPart(pathAfterRoute(req, prefix) ?? '') ?? '';
      // The cookies are read only for an id that could be one (their header may be 16 KB of the client's making).
      const setCookies = isHandoffId(id) ? await this.handoffs.redeem(id, { cookies: parseCookieHeader(req.headers.cookie), secret, clientToken }) : undefined;
      if (!setCookies) {
        answer(res, this.keying, 410, { code: 'handoff_invalid', message: 'This session cookie handoff is spent, expired, unknown or not this tab\'s.' });
        return;
      }
      res.setHeader('Set-Cookie', setCookies);
      answer(res, this.keying, 200, { ok: true });
    });
  }
}
