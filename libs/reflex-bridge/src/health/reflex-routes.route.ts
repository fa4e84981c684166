import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { OriginPolicy } from '../security/origin-policy.js';
import { allowCrossOrigin } from '../security/cross-origin-headers.js';
import { ReflexHealth } from './reflex-health.service.js';
import { answerWithoutBody } from '../security/answer-without-body.js';
import { addressKeyingOf, type AddressKeying } from '../security/client-address.js';

function answer(res: ServerResponse, keying: AddressKeying, status: number, body: unknown): void {
  answerWithoutBody(res, keying, status, 'application/json', JSON.stringify(body));
}

/**
 * Serves the HTTP routes a Reflex frontend calls besides the socket (its `env.json` `PING` and `HEALTH`):
 * - `GET <prefix>/ping` → `"pong"`;
 * - `GET <prefix>/_health` → `{"status": bool, "db"?: bool, "redis"?: bool}`, 200 or 503 ({@link ReflexHealth}).
 *
 * Paths come from the `reflexRoutes` option (either can be moved or turned off). Registered on the app's HTTP
 * adapter as the cookie handoff is, with the module's {@link OriginPolicy}: a browser request from an origin
 * the policy refuses gets 403 `origin_not_allowed`; origins listed in `corsOrigins` get CORS headers with
 * credentials. Requests without `Origin` (load balancers, probes, curl) pass.
 */
@Injectable()
export class ReflexRoutes implements OnModuleInit {
  private readonly logger = new Logger('ReflexBridge');

  /** How a request's client address is keyed, for the lingering close's share. */
  private readonly keying: AddressKeying;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly origins: OriginPolicy,
    private readonly health: ReflexHealth,
  ) {
    this.keying = addressKeyingOf(options);
  }

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return;
    const { ping, health } = this.options.reflexRoutes;
    if (ping !== undefined) {
      adapter.get(ping, (req: IncomingMessage, res: ServerResponse) => {
        if (this.admit(req, res, 'ping')) answer(res, this.keying, 200, 'pong');
      });
    }
    if (health !== undefined) {
      adapter.get(health, (req: IncomingMessage, res: ServerResponse) => {
        if (!this.admit(req, res, 'health')) return;
        this.health.check().then(
          ({ httpStatus, body }) => answer(res, this.keying, httpStatus, body),
          (error: unknown) => {
            this.logger.error(`The health check failed: ${(error as Error)?.stack ?? String(error)}`);
            answer(res, this.keying, 503, { status: false });
          },
        );
      });
    }
  }

  /** The origin policy, then the CORS headers; false (answered 403) for a refused browser origin. */
  private admit(req: IncomingMessage, res: ServerResponse, route: string): boolean {
    const verdict = this.origins.check(req);
    if (!verdict.allowed) {
      this.origins.reportRefusal(verdict, `the ${route} route`);
      answer(res, this.keying, 403, { code: 'origin_not_allowed', message: 'Requests from this origin are not allowed here.' });
      return false;
    }
    allowCrossOrigin(this.origins, req, res);
    return true;
  }
}
