import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createProxyMiddleware, fixRequestBody } from 'http-proxy-middleware';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { anyOf, reservedPaths } from './reserved-paths.js';

function pathnameOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * `profile: 'split_dev'`: the frontend runs on its dev server (Vite), and the app's origin proxies to it every
 * request no route answered: pages and deep links, Vite's module and asset paths (`/@vite/client`, `/@fs/...`,
 * `/src/...`, `/node_modules/...`), and WebSocket upgrades such as Vite's HMR socket. So the page, its modules and
 * the `/_event` socket share one origin (cookies and the origin policy work as in production).
 *
 * Never proxied: the module's own routes (the event socket's upgrade stays with Socket.IO) and `devServer.exclude`.
 * Registered when the module initialises, after Nest registered the app's controllers, so those answer first.
 * On `http-proxy-middleware`.
 */
@Injectable()
export class DevServerProxy implements OnModuleInit {
  private readonly logger = new Logger('ReflexBridge');

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const devServer = this.options.devServer;
    const adapter = this.adapterHost.httpAdapter;
    if (!devServer || !adapter) return;
    const reserved = anyOf([...reservedPaths(this.options), ...devServer.exclude]);
    const proxy = createProxyMiddleware<IncomingMessage, ServerResponse>({
      target: devServer.url,
      // The dev server checks Host (Vite's allowedHosts): it sees its own.
      changeOrigin: true,
      pathFilter: (pathname) => !reserved.test(pathname),
      // The app's body parsers may have read a POST body already: write it to the dev server again.
      on: { proxyReq: fixRequestBody },
    });
    adapter.use(proxy);
    const eventPath = `${this.options.path}/`;
    (adapter.getHttpServer() as Server).on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const pathname = pathnameOf(req);
      // The bridge's own socket is Socket.IO's (its engine listens on the same server).
      if (pathname === this.options.path || pathname.startsWith(eventPath)) return;
      // No other module route takes upgrades; in split_dev Engine.IO leaves unknown upgrades to us (destroyUpgrade off).
      if (reserved.test(pathname)) return void socket.destroy();
      proxy.upgrade(req, socket as never, head);
    });
    this.logger.log(`Profile split_dev: proxying the frontend to ${devServer.url}`);
  }
}
