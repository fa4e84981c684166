/**
 * The shipped deploy/nginx.conf's access log keeps no client token: the shop's `POST /likes/<token>` names a tab's
 * token in its path, and an anonymous tab's token is a bearer secret for its state (docs/security.md), which the log
 * format already kept out by dropping query strings (the event socket's `?token=`).
 *
 * Needs nginx and openssl: skipped without nginx, except under CI=true.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { startDeployNginx, type DeployNginx } from './support/deploy-nginx.js';
import { nginxSkipReason } from './support/nginx.js';
import { eventually } from './support/eventually.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One HTTPS POST through nginx (the test certificate is self-signed); resolves with the status. */
function post(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'POST', rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const skip = nginxSkipReason();
(skip ? describe.skip : describe)('deploy/nginx.conf: the access log names no client token', () => {
  let upstream: Server;
  let nginx: DeployNginx;
  beforeAll(async () => {
    // The log is nginx's: any upstream answer will do.
    upstream = createServer((_request, response) => response.writeHead(204).end());
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    nginx = await startDeployNginx([(upstream.address() as AddressInfo).port]);
  }, 120_000);
  afterAll(async () => {
    await nginx?.stop();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  it('logs POST /likes/<token> without the token, in any spelling of the path', async () => {
    // Before: the line read "POST /likes/<the tab's token> HTTP/1.1": whoever reads the log could take the state of
    // an anonymous tab no live socket holds.
    const log = () => readFile(join(nginx.dir, 'shop.access.log'), 'utf8').catch(() => '');
    const tokens = [randomUUID(), randomUUID(), randomUUID()];
    for (const [i, path] of [`/likes/${tokens[0]}`, `/LIKES/${tokens[1]}`, `/likes/${tokens[2]}/`].entries()) {
      expect(await post(`${nginx.url}${path}`)).toBe(204);
      await eventually(`request ${i + 1} in the access log`, log, (written) => (written.match(/"POST \/likes\//gi)?.length ?? 0) === i + 1);
    }
    const written = await log();
    for (const token of tokens) expect(written).not.toContain(token);
    expect(written).toMatch(/"POST \/likes\/<token> HTTP\/1\.1" 204/);
  });
});
