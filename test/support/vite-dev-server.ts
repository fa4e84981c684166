import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

const SERVE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'vite-dev', 'serve.mjs');

/** A real Vite dev server in a child process: on test/fixtures/vite-dev, or on an app's own Vite config. */
export interface ViteDevServer {
  url: string;
  /** The HMR socket's token (`?token=`), which Vite requires of every HMR connection. */
  token: string;
  close(): Promise<void>;
}

function once(child: ChildProcess, timeoutMs: number): Promise<{ url: string; token: string }> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`Vite did not start within ${timeoutMs} ms: ${err}`)), timeoutMs);
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((candidate) => candidate.startsWith('{'));
      if (!line) return;
      clearTimeout(timer);
      resolve(JSON.parse(line) as { url: string; token: string });
    });
    child.once('exit', (code) => fail(new Error(`Vite exited with ${code}: ${err}`)));
  });
}

export interface ViteDevServerOptions {
  /**
   * An app's Vite config (absolute path, e.g. apps/shop/web/vite.config.ts): serve that app, with its plugins and
   * dependency pre-bundling. Unset: the fixture root test/fixtures/vite-dev.
   */
  configFile?: string;
  /** Milliseconds to wait for Vite to listen. @default 120_000 */
  timeoutMs?: number;
}

/** Starts Vite on a free loopback port (a new port when another process took it first); waits until it listens. */
export async function startViteDevServer(options: ViteDevServerOptions = {}): Promise<ViteDevServer> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const args = options.configFile ? [options.configFile] : [];
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const child = spawn(process.execPath, [SERVE, String(await freePort()), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const { url, token } = await once(child, timeoutMs);
      return {
        url,
        token,
        close: () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      };
    } catch (error) {
      lastError = error;
      child.kill('SIGKILL');
    }
  }
  throw lastError;
}
