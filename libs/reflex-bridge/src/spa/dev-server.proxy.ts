import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { type ClientRequest, type IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { isDevelopmentHostAllowed } from '../security/development-host.js';
import { anyOf, reservedPaths } from './reserved-paths.js';
import { requestPathname } from '../common/request-pathname.js';

const HOST_NOT_ALLOWED = JSON.stringify({
  code: 'host_not_allowed',
  message: 'The dev server is proxied only to requests addressed to an IP address, localhost or a name in devServer.allowedHosts.',
});

const DEV_SERVER_UNAVAILABLE = JSON.stringify({
  code: 'dev_server_unavailable',
  message: 'The frontend dev server (devServer.url) did not answer: start it, or check devServer.url.',
});

const UPGRADE_UNANSWERED = JSON.stringify({
  code: 'dev_server_upgrade_unanswered',
  message: 'The frontend dev server did not answer this WebSocket upgrade: it takes only its own (such as Vite\'s HMR socket).',
});

/**
 * How long a proxied upgrade may wait for the dev server's answer. Vite answers its own HMR upgrade within
 * milliseconds and leaves every other one (another path, another subprotocol) open and unanswered for ever: each
 * such upgrade held a socket of the app and one to the dev server until the client gave up, if it ever did.
 */
const UPGRADE_ANSWER_TIMEOUT_MS = 10_000;

/**
 * `profile: 'split_dev'`: the frontend runs on its dev server (Vite), and the app's origin proxies to it every
 * request no route answered: pages and deep links, Vite's module and asset paths (`/@vite/client`, `/@fs/...`,
 * `/src/...`, `/node_modules/...`), and WebSocket upgrades such as Vite's HMR socket. So the page, its modules and
 * the `/_event` socket share one origin (cookies and the origin policy work as in production).
 *
 * Never proxied: the module's own routes (the event socket's upgrade stays with Socket.IO) and `devServer.exclude`.
 * A request (or upgrade) addressed to a host name that is not an IP address, `localhost` or in
 * `devServer.allowedHosts` gets 403 `host_not_allowed`: the proxy sends the dev server its own `Host`, so the dev
 * server's own DNS-rebinding check cannot see the name the browser used (see {@link isDevelopmentHostAllowed}).
 * An upgrade the dev server leaves unanswered for 10 s (Vite does so for any that is not its HMR socket) gets 504
 * `dev_server_upgrade_unanswered` and is closed, as is the proxy's socket to the dev server.
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

  async onModuleInit(): Promise<void> {
    const devServer = this.options.devServer;
    const adapter = this.adapterHost.httpAdapter;
    if (!devServer || !adapter) return;
    // Loaded only for a dev server: a production app (no `devServer`) never loads the proxy and its dependencies.
    const { createProxyMiddleware, fixRequestBody } = await import('http-proxy-middleware');
    const reserved = anyOf([...reservedPaths(this.options), ...devServer.exclude]);
    // One decision for the middleware, the upgrade listener and the proxy's own filter: the path as Express routes it.
    // The filter read http-proxy-middleware's pathname (url.parse for every target), which is not Express's for
    // `/_bridge\..\` (url.parse reads `\` as `/`): the listener passed such an upgrade on as no module path, the
    // filter refused it as one, and nobody answered nor closed its socket.
    const proxied = (req: IncomingMessage): boolean => {
      const path = requestPathname(req);
      return path.startsWith('/') && !reserved.test(path);
    };
    let unavailableLogged = false;
    // Upgrades given up on (see UPGRADE_ANSWER_TIMEOUT_MS): their proxy request's error is ours, not an outage.
    const givenUp = new WeakSet<IncomingMessage>();
    const proxy = createProxyMiddleware<IncomingMessage, ServerResponse>({
      target: devServer.url,
      // The dev server checks Host (Vite's allowedHosts): it sees its own.
      changeOrigin: true,
      pathFilter: (_pathname, req) => proxied(req),
      on: {
        // The app's body parsers may have read a POST body already: write it to the dev server again.
        proxyReq: fixRequestBody,
        proxyRes: () => {
          unavailableLogged = false;
        },
        proxyReqWs: (proxyReq: ClientRequest, req: IncomingMessage, socket: Duplex) => {
          const timer = setTimeout(() => {
            givenUp.add(req);
            socket.on('error', () => undefined);
            socket.end(`HTTP/1.1 504 Gateway Timeout\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(UPGRADE_UNANSWERED)}\r\nConnection: close\r\n\r\n${UPGRADE_UNANSWERED}`);
            proxyReq.destroy();
          }, UPGRADE_ANSWER_TIMEOUT_MS);
          timer.unref();
          // Any answer (the switch, or a refusal the proxy passes on) or either side closing ends the wait.
          const answered = (): void => clearTimeout(timer);
          proxyReq.once('upgrade', answered).once('response', answered).once('close', answered);
          socket.once('close', answered);
        },
        // In place of http-proxy-middleware's answer (a 504 whose text body named the Host and path, and nothing in
        // the app's log): the usual first run of split_dev has no dev server started yet, or a wrong port.
        error: (error: NodeJS.ErrnoException, req: IncomingMessage, res: ServerResponse | Duplex) => {
          // Our own giving up on an unanswered upgrade: its 504 is on its way, and the dev server is up.
          if (givenUp.has(req)) return;
          if (!unavailableLogged) {
            unavailableLogged = true;
            this.logger.warn(`The frontend dev server at ${devServer.url} did not answer (${error.code ?? error.message}): start it (e.g. npm run dev), or set devServer.url to where it listens. Not logged again until it answers.`);
          }
          if (!(res instanceof ServerResponse)) return void res.destroy();
          if (res.headersSent) return void res.destroy();
          res.writeHead(502, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(DEV_SERVER_UNAVAILABLE) });
          res.end(DEV_SERVER_UNAVAILABLE);
        },
      },
    });
    let refusalLogged = false;
    const hostAllowed = (req: IncomingMessage): boolean => {
      if (isDevelopmentHostAllowed(req.headers.host, devServer.allowedHosts)) return true;
      if (!refusalLogged) {
        refusalLogged = true;
        this.logger.warn(`Refused to proxy a request addressed to host ${JSON.stringify(String(req.headers.host ?? '').slice(0, 100))} to the dev server: add the name you open the app under to devServer.allowedHosts (IP addresses and localhost are always proxied). Further refusals are not logged.`);
      }
      return false;
    };
    adapter.use((req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => {
      if (!proxied(req)) return next();
      if (hostAllowed(req)) return void proxy(req, res, next);
      res.statusCode = 403;
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Cache-Control', 'no-store');
      res.end(HOST_NOT_ALLOWED);
    });
    const eventPath = `${this.options.path}/`;
    (adapter.getHttpServer() as Server).on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // The bridge's own socket is Socket.IO's: its engine listens on the same server and takes what its own check
      // takes, a raw target starting with `<path>/`. `/_event` or `/_event?EIO=4` is not, and was left to it: nobody
      // answered, and the socket stayed open for ever.
      if ((req.url ?? '').startsWith(eventPath)) return;
      // No other module route takes upgrades; in split_dev Engine.IO leaves unknown upgrades to us (destroyUpgrade off).
      // Read by its path as Express routes it: an absolute-form `http://host/_event/...` or `http://host/_upload/x`,
      // which nothing else takes, was left unanswered and held its socket for ever.
      if (!proxied(req)) return void socket.destroy();
      if (!hostAllowed(req)) {
        // Node no longer listens for an upgraded socket's errors: a reset while the refusal is written must not throw.
        socket.on('error', () => undefined);
        socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(HOST_NOT_ALLOWED)}\r\nConnection: close\r\n\r\n${HOST_NOT_ALLOWED}`);
        return;
      }
      proxy.upgrade(req, socket as never, head);
    });
    this.logger.log(`Profile split_dev: proxying the frontend to ${devServer.url}`);
  }
}
