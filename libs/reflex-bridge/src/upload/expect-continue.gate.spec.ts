import { describe, expect, it } from '@jest/globals';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ExpectContinueGate } from './expect-continue.gate.js';

/** A request that waits for `100 Continue`: resolves true when it came before the final answer. */
async function askToContinue(server: Server, path: string): Promise<boolean> {
  const { port } = server.address() as AddressInfo;
  const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers: { Expect: '100-continue', 'Content-Length': '2' } });
  const continued = new Promise<boolean>((resolve, reject) => {
    req.once('continue', () => resolve(true));
    req.once('response', () => resolve(false));
    req.once('error', reject);
  });
  req.flushHeaders();
  try {
    return await continued;
  } finally {
    req.destroy();
  }
}

async function listening(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

describe('ExpectContinueGate', () => {
  it('holds 100 Continue for the requests it holds until released, and lets every other one continue at once', async () => {
    const gate = new ExpectContinueGate((req) => req.url === '/held');
    const server = await listening((req, res) => {
      gate.release(req, res);
      req.resume();
      req.once('end', () => res.end('ok'));
    });
    try {
      expect(gate.install(server)).toBe('installed');
      expect(await askToContinue(server, '/held')).toBe(true);
      expect(await askToContinue(server, '/other')).toBe(true);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('answers a held request that was refused without ever asking for its body', async () => {
    const gate = new ExpectContinueGate(() => true);
    const server = await listening((_req, res) => {
      res.statusCode = 403;
      res.end('refused');
    });
    try {
      gate.install(server);
      expect(await askToContinue(server, '/held')).toBe(false);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('leaves 100 Continue to an app that listens for checkContinue itself', async () => {
    const server = createServer();
    server.on('checkContinue', () => undefined);
    expect(new ExpectContinueGate(() => true).install(server)).toBe('app-handles-it');
    expect(server.listenerCount('checkContinue')).toBe(1);
    expect(new ExpectContinueGate(() => true).install(undefined)).toBe('no-server');
  });
});
