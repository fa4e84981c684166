import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { nginxScratchDirectives, startNginxWithConfig, type NginxProxy } from './nginx.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The nginx config the project ships (docs/deploy.md walks through it). */
export const DEPLOY_NGINX_CONF = join(repoRoot, 'deploy', 'nginx.conf');

/** deploy/nginx.conf running on loopback: HTTPS on `port` (`url`), its plain-HTTP redirect server on `httpPort`. */
export interface DeployNginx extends NginxProxy {
  /** `https://127.0.0.1:<port>` (a self-signed certificate: clients must not verify it). */
  readonly httpsUrl: string;
  /** The port of the plain-HTTP server block (it only redirects to HTTPS). */
  readonly httpPort: number;
}

export interface DeployNginxPaths {
  /** nginx's temp dir: pid file, logs, temp paths. */
  dir: string;
  httpsPort: number;
  httpPort: number;
  upstreamPorts: readonly number[];
  certificate: string;
  certificateKey: string;
}

/** Replaces `pattern` in `text`, failing when the shipped config no longer has it (the test would prove nothing). */
function substitute(text: string, pattern: RegExp, replacement: string | ((match: string, ...groups: string[]) => string), what: string): string {
  if (!pattern.test(text)) throw new Error(`deploy/nginx.conf no longer has ${what} (${pattern}); update test/support/deploy-nginx.ts`);
  pattern.lastIndex = 0;
  return text.replace(pattern, replacement as (match: string, ...groups: string[]) => string);
}

/**
 * deploy/nginx.conf as shipped, with only what a test machine needs changed: the upstream's `server` lines name
 * `upstreamPorts` (their `max_fails`/`fail_timeout` kept), the two server blocks listen on loopback ports instead
 * of 80/443, the certificate is a test one, and nginx runs in the foreground with its pid file, logs and temp
 * paths in `dir` (plus an access log naming the worker that answered). Every location, header and timeout is the
 * shipped one. Throws when a part it substitutes is missing from the file.
 */
export function renderDeployNginxConf(source: string, paths: DeployNginxPaths): string {
  if (paths.upstreamPorts.length === 0) throw new Error('renderDeployNginxConf needs at least one upstream port');
  let conf = source;
  // The shipped upstream lists three example workers: one line per real worker instead, same parameters.
  conf = substitute(
    conf,
    /((?:^[ \t]*server 127\.0\.0\.1:\d+[^;\n]*;[ \t]*\n)+)/m,
    (block) => {
      const first = /^([ \t]*)server 127\.0\.0\.1:\d+([^;\n]*);/m.exec(block)!;
      return paths.upstreamPorts.map((port) => `${first[1]}server 127.0.0.1:${port}${first[2]};\n`).join('');
    },
    'the upstream server lines',
  );
  conf = substitute(conf, /^([ \t]*)listen 80;[ \t]*\n[ \t]*listen \[::\]:80;/m, `$1listen 127.0.0.1:${paths.httpPort};`, 'listen 80');
  conf = substitute(conf, /^([ \t]*)listen 443 ssl;[ \t]*\n[ \t]*listen \[::\]:443 ssl;/m, `$1listen 127.0.0.1:${paths.httpsPort} ssl;`, 'listen 443 ssl');
  conf = substitute(conf, /ssl_certificate [^;]+;/, `ssl_certificate ${paths.certificate};`, 'ssl_certificate');
  conf = substitute(conf, /ssl_certificate_key [^;]+;/, `ssl_certificate_key ${paths.certificateKey};`, 'ssl_certificate_key');
  const { dir } = paths;
  conf = substitute(conf, /access_log \/var\/log\/nginx\/shop\.access\.log (\w+);/, `access_log ${dir}/shop.access.log $1;`, 'the shop access log');
  conf = substitute(
    conf,
    /^http \{\n/m,
    `http {
  log_format upstreams '$remote_addr [$time_local] "$request" $status $body_bytes_sent upstream=$upstream_addr';
${nginxScratchDirectives(dir)}
`,
    'the http block',
  );
  // The shipped workers' account (www-data) cannot use the temp dir: as root keep them as the current user; a master
  // that is not root cannot switch users at all (and would warn about the line).
  conf = substitute(conf, /^user [^;\n]+;\n/m, process.getuid?.() === 0 ? 'user root root;\n' : '', 'the user line');
  return `daemon off;\nmaster_process on;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\n\n${conf}`;
}

function openssl(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile('openssl', args, { timeout: 60_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`openssl ${args[0]} failed (is openssl installed?): ${error.message}\n${stderr}`));
      else resolvePromise();
    });
  });
}

/**
 * Starts a real nginx on the shipped deploy/nginx.conf (rendered by {@link renderDeployNginxConf}) in front of
 * `upstreamPorts`, with a fresh self-signed certificate for 127.0.0.1. `url` and `httpsUrl` are the HTTPS server;
 * `stop()` stops nginx and removes its temp dir (certificate included).
 */
export async function startDeployNginx(upstreamPorts: readonly number[]): Promise<DeployNginx> {
  const source = await readFile(DEPLOY_NGINX_CONF, 'utf8');
  let httpPort = 0;
  const proxy = await startNginxWithConfig(async (dir, port) => {
    const certificate = join(dir, 'test.crt');
    const certificateKey = join(dir, 'test.key');
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', certificateKey, '-out', certificate]);
    httpPort = await freePort();
    return renderDeployNginxConf(source, { dir, httpsPort: port, httpPort, upstreamPorts, certificate, certificateKey });
  });
  const httpsUrl = `https://127.0.0.1:${proxy.port}`;
  return { ...proxy, url: httpsUrl, httpsUrl, httpPort };
}
