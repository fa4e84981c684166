import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { destroyUnansweredUpgrades } from './unanswered-upgrades.guard.js';

/** Waits for `predicate` (a condition, never a duration), failing after a generous deadline. */
async function until(predicate: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('destroyUnansweredUpgrades (a real HTTP server)', () => {
  let server: Server;
  const clients: Socket[] = [];

  /** A server whose upgrade listener ends every socket as Engine.IO does, after writing `answer` (if any) to it. */
  async function serve(answer: string): Promise<number> {
    server = createServer();
    server.on('upgrade', (_request, socket) => {
      if (answer) socket.write(answer);
      socket.end();
    });
    destroyUnansweredUpgrades(server, '/_event/');
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }
  /** A client that asks to upgrade `path` and keeps its side open; resolves once the server ended its side. */
  async function upgrade(port: number, path: string): Promise<{ received: string }> {
    const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    clients.push(client);
    const seen = { received: '' };
    client.on('data', (data: Buffer) => (seen.received += data.toString('latin1')));
    client.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    await new Promise((resolve) => client.once('end', resolve));
    return seen;
  }
  const connections = () => new Promise<number>((resolve) => server.getConnections((_error, count) => resolve(count)));

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('destroys an upgrade of another path that was ended without a byte written', async () => {
    const port = await serve('');
    await upgrade(port, '/');
    await until(async () => (await connections()) === 0, 'the connection to close');
  });

  it('leaves a connection someone wrote to, and upgrades of the event path, to whoever handles them', async () => {
    const port = await serve('HTTP/1.1 400 Bad Request\r\n\r\n');
    const answered = await upgrade(port, '/chat');
    expect(answered.received).toContain('400');
    expect(await connections()).toBe(1);
    for (const client of clients.splice(0)) client.destroy();
    await until(async () => (await connections()) === 0, 'the client to leave');
    server.removeAllListeners('upgrade');
    server.on('upgrade', (_request, socket) => socket.end());
    destroyUnansweredUpgrades(server, '/_event/');
    await upgrade(port, '/_event/?EIO=4&transport=websocket');
    expect(await connections()).toBe(1);
  });
});
