import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';

/** The part of Node's HTTP server the check reads. */
interface ListeningServer {
  readonly listening: boolean;
  address(): AddressInfo | string | null;
  once(event: 'listening', listener: () => void): unknown;
}

/** Whether `address` (as `server.address()` gives it) is only reachable from this machine. */
export function isLoopbackAddress(address: string): boolean {
  const ip = address.toLowerCase().replace(/^::ffff:/, '');
  return ip === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);
}

/**
 * Warns, once the app's HTTP server listens, when devtools are on and it listens on an address other machines reach
 * (`app.listen(port)` listens on every interface). The devtools answer any request addressed by IP address (their
 * host check stops other sites' pages, not other machines), so anyone on the same network (an office or café Wi-Fi)
 * would read every tab's token, state and events, and could open a tab with an anonymous user's token and get its
 * state. A server listening on a Unix socket or on loopback passes.
 */
@Injectable()
export class DevtoolsExposureCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger('ReflexBridge');

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.options.devtools) return;
    const server = this.adapterHost?.httpAdapter?.getHttpServer?.() as ListeningServer | undefined;
    if (!server || typeof server.once !== 'function' || typeof server.address !== 'function') return;
    // Nest bootstraps the app before `listen` binds the server; an app that called `init()` first binds it later still.
    if (server.listening) this.check(server);
    else server.once('listening', () => this.check(server));
  }

  private check(server: ListeningServer): void {
    const bound = server.address();
    if (bound === null || typeof bound === 'string' || isLoopbackAddress(bound.address)) return;
    const where = bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
    this.logger.warn(
      `Devtools are on (${this.options.devtools!.path}) and the app listens on ${where}, which other machines reach: ` +
        "whoever reaches this port by IP address reads every tab's token, state and events. Listen on loopback while " +
        "devtools are on (app.listen(port, '127.0.0.1')), or keep the port behind a firewall.",
    );
  }
}
