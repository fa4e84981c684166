import { expect } from '@jest/globals';
import { readdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect, Socket } from 'node:net';
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

/**
 * The whole check, for a route that serves a file at `path` of an app at `url`: while one client pipelines 300
 * requests for it and reads nothing, another client's request (`served`, which asserts its own answer) still goes
 * through, and the process holds no more than a few more descriptors; once that client left, none.
 */
export async function expectPipeliningHoldsNoFiles(server: Server, url: string, path: string, served: () => Promise<void>): Promise<void> {
  const before = openDescriptors();
  const attacker = await pipelineAndReadNothing(server, url, path, 300);
  // The other client's request goes through the same file system queue, after the attacker's.
  await served();
  expect(openDescriptors() - before).toBeLessThanOrEqual(8);
  attacker.leave();
  await eventually("the attacker's connection to be gone", () => openDescriptors() - before, (extra) => extra <= 2);
}

/** A raw TCP client: writes `requests` in one go, and collects what the server answers until it closes. */
export class PipeliningClient {
  answer = '';
  closed = false;
  private readonly socket: Socket;

  constructor(url: string) {
    this.socket = connect(Number(new URL(url).port), '127.0.0.1');
    this.socket.on('data', (data: Buffer) => (this.answer += data.toString('latin1')));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => (this.closed = true));
  }

  async write(requests: string): Promise<void> {
    if (this.socket.connecting) await new Promise((resolve) => this.socket.once('connect', resolve));
    this.socket.write(requests);
  }

  /** The status lines of the answers received so far. */
  get statuses(): string[] {
    return this.answer.match(/HTTP\/1\.1 \d{3}/g) ?? [];
  }

  /** Reads nothing more of what the server sends (its answers wait in the server's buffers and the kernel's). */
  pause(): void {
    this.socket.pause();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A `GET path` request, as a pipelining client writes it. */
export const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
