import { readdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { Socket } from 'node:net';
import { eventually } from './eventually.js';

/** File descriptors this process holds (the apps under test run in it). */
export function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * A client that writes `count` pipelined `GET path` requests in one go and reads none of the answers: the server
 * takes all of them at once and queues their answers. Resolves once `server` has seen every request; `leave()`
 * drops the connection.
 */
export async function pipelineAndReadNothing(server: Server, url: string, path: string, count: number): Promise<{ leave(): void }> {
  let requests = 0;
  const count1 = () => requests++;
  server.on('request', count1);
  const client = new Socket();
  client.on('error', () => undefined);
  const { port } = new URL(url);
  await new Promise<void>((resolve) => client.connect(Number(port), '127.0.0.1', resolve));
  client.pause();
  client.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`.repeat(count));
  try {
    await eventually('the server to take every pipelined request', () => requests, (seen) => seen >= count, 30_000);
  } finally {
    server.off('request', count1);
  }
  return { leave: () => client.destroy() };
}
