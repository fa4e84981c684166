import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { CookieHandoffService } from './cookie-handoff.service.js';
import { parseCookieHeader } from './cookie-header.js';

/**
 * Serves `POST <cookieHandoffPath>/<token>`: answers with the `Set-Cookie` headers an event parked under that
 * single-use token (see {@link CookieHandoffService}), or 410 when the token is spent, expired or unknown.
 */
@Injectable()
export class CookieHandoffRoute implements OnModuleInit {
  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly handoffs: CookieHandoffService,
  ) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return;
    const prefix = `${this.options.cookieHandoffPath}/`;
    adapter.post(`${this.options.cookieHandoffPath}/:token`, async (req: IncomingMessage, res: ServerResponse) => {
      const url = req.url ?? '';
      const token = decodeURIComponent(url.slice(url.indexOf(prefix) + prefix.length).split('?')[0]);
      const setCookies = await this.handoffs.redeem(token, parseCookieHeader(req.headers.cookie));
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Content-Type', 'application/json');
      if (!setCookies) {
        res.statusCode = 410;
        res.end(JSON.stringify({ code: 'handoff_invalid', message: 'This session cookie handoff is spent, expired or unknown.' }));
        return;
      }
      res.setHeader('Set-Cookie', setCookies);
      res.end(JSON.stringify({ ok: true }));
    });
  }
}
