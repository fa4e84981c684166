import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from './ports.js';

/** The nginx binary the specs use (Debian's package; `scripts/install-test-deps.sh` installs it). */
export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

/** How upstreams are picked: nginx's default round robin, or one of its balancing directives. */
export type NginxBalance = 'round_robin' | 'least_conn' | 'ip_hash';

export interface NginxOptions {
  /** Load-balancing method for the upstream pool. @default 'round_robin' */
  balance?: NginxBalance;
  /** `client_max_body_size` for everything but `/_upload` (and for `/_upload` too unless `uploadMaxBodySize` is set). @default '100m' */
  clientMaxBodySize?: string;
  /**
   * `client_max_body_size` for `/_upload`. Default: `clientMaxBodySize` when given, else deploy/nginx.conf's `1025m`
   * (the module's default `uploads.maxTotalBytes` plus 1 MiB for the event args and the multipart framing).
   */
  uploadMaxBodySize?: string;
  /**
   * A separate upstream pool for `/_upload` (POST and GET), e.g. to send uploads to another worker than the one
   * holding the socket. @default the same pool as every other location
   */
  uploadUpstreamPorts?: readonly number[];
}

/** A running nginx that proxies one free loopback port to an upstream pool. */
export interface NginxProxy {
  /** The port nginx listens on (127.0.0.1). */
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The temp dir holding nginx.conf, the pid file, the logs and nginx's temp paths. */
  readonly dir: string;
  /** The nginx master process. */
  readonly process: ChildProcess;
  /** nginx's error log so far (useful in assertion messages). */
  errorLog(): Promise<string>;
  /**
   * nginx's access log so far: the combined format plus ` upstream=<address>` (the worker that answered). A request
   * is logged when it ends, so a WebSocket appears once it closed.
   */
  accessLog(): Promise<string>;
  /** Stops nginx (fast shutdown, then SIGKILL) and removes its temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

const isCI = (): boolean => process.env.CI === 'true' || process.env.CI === '1';

function nginxInstalled(): boolean {
  try {
    accessSync(NGINX_BIN, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether specs that need nginx can run. Returns `undefined` when nginx is there; otherwise a message for the
 * spec to print before skipping. Under `CI=true` a missing nginx is an error, never a skip: it throws.
 *
 * @example
 * const skip = nginxSkipReason();
 * if (skip) console.warn(skip);
 * (skip ? describe.skip : describe)('behind nginx', () => { ... });
 */
export function nginxSkipReason(): string | undefined {
  if (nginxInstalled()) return undefined;
  const message = `nginx not found at ${NGINX_BIN}; run \`bash scripts/install-test-deps.sh\` (or set NGINX_BIN)`;
  if (isCI()) throw new Error(`${message}. CI=true: nginx-backed specs must run.`);
  return `skipping nginx specs: ${message}`;
}

/**
 * The `http` block's directives that keep every file nginx writes inside the test's temp dir `dir`: the access log
 * (format `upstreams`, which the caller defines) and the temp paths. Indented for the `http` block, one per line.
 */
export function nginxScratchDirectives(dir: string): string {
  return [
    `access_log ${dir}/access.log upstreams;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `${kind}_temp_path ${dir}/${kind}_temp;`),
  ]
    .map((line) => `  ${line}`)
    .join('\n');
}

/** Writes the nginx.conf for a proxy on `port` in front of `upstreamPorts`. Exported for inspection in specs. */
export function nginxConfig(dir: string, port: number, upstreamPorts: readonly number[], options: NginxOptions = {}): string {
  const balance = options.balance && options.balance !== 'round_robin' ? `    ${options.balance};\n` : '';
  const servers = upstreamPorts.map((p) => `    server 127.0.0.1:${p};\n`).join('');
  const bodySize = options.clientMaxBodySize ?? '100m';
  const uploadBodySize = options.uploadMaxBodySize ?? options.clientMaxBodySize ?? '1025m';
  const uploadServers = options.uploadUpstreamPorts?.map((p) => `    server 127.0.0.1:${p};\n`).join('');
  if (options.uploadUpstreamPorts?.length === 0) throw new Error('uploadUpstreamPorts needs at least one port');
  const uploadPool = uploadServers ? 'app_upload' : 'app';
  const uploadUpstream = uploadServers ? `\n  upstream app_upload {\n${uploadServers}    keepalive 16;\n  }\n` : '';
  // As root the workers would switch to `nobody`, which cannot use the temp dir: keep them as the current user.
  const user = process.getuid?.() === 0 ? 'user root root;\n' : '';
  const forwarded = `
      proxy_set_header Host $http_host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;`;
  return `${user}daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;

events {
  worker_connections 1024;
}

http {
  log_format upstreams '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                       '"$http_referer" "$http_user_agent" upstream=$upstream_addr';
${nginxScratchDirectives(dir)}
  client_max_body_size ${bodySize};

  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
  }

  upstream app {
${balance}${servers}    keepalive 16;
  }
${uploadUpstream}
  server {
    listen 127.0.0.1:${port};

    # The Socket.IO / Engine.IO endpoint: a long-lived WebSocket.
    location /_event {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;${forwarded}
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      proxy_buffering off;
    }

    # File uploads, as in deploy/nginx.conf: the body streams through instead of being spooled to disk first, and
    # the buffered mode's NDJSON lines are passed on as they come. X-Upstream names the worker that answered. In any
    # letter case, as there: the workers take \`POST /_UPLOAD\` as an upload (Express routes case-insensitively).
    location ~* ^/_upload {
      proxy_pass http://${uploadPool};
      proxy_http_version 1.1;
      proxy_set_header Connection "";${forwarded}
      client_max_body_size ${uploadBodySize};
      proxy_request_buffering off;
      proxy_buffering off;
      client_body_timeout 60s;
      proxy_send_timeout 300s;
      proxy_read_timeout 300s;
      add_header X-Upstream $upstream_addr always;
    }

    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";${forwarded}
      add_header X-Upstream $upstream_addr always;
    }
  }
}
`;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills any nginx still running when the test process exits (a failed spec, `--forceExit`). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function readErrorLog(dir: string): Promise<string> {
  try {
    return await readFile(join(dir, 'error.log'), 'utf8');
  } catch {
    return '';
  }
}

/** True when `dir`/nginx.pid names `pid`: that nginx bound its listening sockets. */
async function ownPidFile(dir: string, pid: number | undefined): Promise<boolean> {
  try {
    return pid !== undefined && Number((await readFile(join(dir, 'nginx.pid'), 'utf8')).trim()) === pid;
  } catch {
    return false;
  }
}

/** Starts one nginx on `port`; resolves once it accepts connections, rejects if it exits first. */
async function launch(dir: string, port: number, startTimeoutMs: number): Promise<ChildProcess> {
  const confPath = join(dir, 'nginx.conf');
  // -p: prefix for relative paths; -e: the error log used before the config is read (else /var/log/nginx).
  const child = spawn(NGINX_BIN, ['-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', confPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  running.add(child);
  child.once('exit', () => running.delete(child));

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.once('exit', (code, signal) => (exited = { code, signal }));
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));

  const deadline = Date.now() + startTimeoutMs;
  while (Date.now() < deadline) {
    if (spawnError) throw spawnError;
    if (exited) {
      const log = await readErrorLog(dir);
      throw new NginxStartError(`nginx exited (code ${exited.code}, signal ${exited.signal}) before listening:\n${output}${log}`, log);
    }
    // Listening once this nginx wrote its pid file (it does so after binding every port of its config) and the port
    // answers: another process holding the port answers too, while this nginx retries its bind for 2.5 s and exits.
    if ((await ownPidFile(dir, child.pid)) && (await canConnect(port))) return child;
    await delay(25);
  }
  child.kill('SIGKILL');
  throw new Error(`nginx did not listen on 127.0.0.1:${port} within ${startTimeoutMs} ms:\n${output}${await readErrorLog(dir)}`);
}

class NginxStartError extends Error {
  constructor(
    message: string,
    readonly errorLog: string,
  ) {
    super(message);
  }
}

/**
 * Starts a real nginx (`daemon off; master_process on;`) as a child of the test process, listening on a free
 * 127.0.0.1 port and proxying to `upstreamPorts` on 127.0.0.1: `/_event` with the WebSocket upgrade and a one-hour
 * read timeout, `/_upload` streamed both ways with its own body limit (optionally to its own pool), everything else plain HTTP/1.1 with keep-alive. All its files (config, pid,
 * logs, temp paths) live in a fresh temp dir that `stop()` removes.
 *
 * Throws when nginx is missing; call `nginxSkipReason()` first to skip outside CI.
 */
export async function startNginx(upstreamPorts: readonly number[], options: NginxOptions = {}): Promise<NginxProxy> {
  if (upstreamPorts.length === 0) throw new Error('startNginx needs at least one upstream port');
  return startNginxWithConfig((dir, port) => nginxConfig(dir, port, upstreamPorts, options));
}

function makeProxy(dir: string, port: number, child: ChildProcess): NginxProxy {
  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM'); // fast shutdown: open WebSockets would hold up a graceful SIGQUIT
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    dir,
    process: child,
    errorLog: () => readErrorLog(dir),
    accessLog: () => readFile(join(dir, 'access.log'), 'utf8').catch(() => ''),
    stop: () => (stopping ??= stop()),
  };
}

/**
 * Starts a real nginx on a config of the caller's own (e.g. deploy/nginx.conf rendered for the test), written by
 * `render(dir, port)`: `dir` is the temp dir for the pid file, logs and temp paths, `port` the free 127.0.0.1 port
 * nginx must listen on (the one this waits for). Retries on another port when the bind loses a race. The config must set `daemon off;` so that nginx stays a child of the test process, and `pid <dir>/nginx.pid;` (how this knows the port is its own).
 */
export async function startNginxWithConfig(render: (dir: string, port: number) => string | Promise<string>): Promise<NginxProxy> {
  if (!nginxInstalled()) throw new Error(`nginx not found at ${NGINX_BIN}; run \`bash scripts/install-test-deps.sh\``);
  installExitHook();
  const dir = await mkdtemp(join(tmpdir(), 'reflex-nginx-'));
  await chmod(dir, 0o755);
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      await writeFile(join(dir, 'nginx.conf'), await render(dir, port));
      try {
        return makeProxy(dir, port, await launch(dir, port, 10_000));
      } catch (error) {
        // Someone took the free port between freePort() and nginx's bind: try another one.
        if (error instanceof NginxStartError && /Address already in use/.test(error.errorLog) && attempt < 5) continue;
        throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
