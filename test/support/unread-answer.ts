import { connect as connectTcp } from 'node:net';
import type { RunningApp } from './app.js';
import { until } from './eventually.js';

/** Connections the app's HTTP server holds open now. */
export function openConnections(running: RunningApp): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    running.app.getHttpServer().getConnections((error: Error | null, count: number) => (error ? reject(error) : resolve(count))),
  );
}

/**
 * Asks the app for `path` on a connection that then reads nothing (its socket paused), and waits for the server to
 * hold that connection, then to cut it: what a client that stalls a large answer must come to. The app must hold no
 * other connection meanwhile.
 */
export async function waitForUnreadAnswerCut(running: RunningApp, path: string): Promise<void> {
  const socket = connectTcp(Number(new URL(running.url).port), '127.0.0.1');
  socket.on('error', () => undefined);
  try {
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.pause();
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await until(async () => (await openConnections(running)) === 1 || undefined, 'the server to hold the connection');
    await until(async () => (await openConnections(running)) === 0 || undefined, 'the server to cut the client that reads nothing');
  } finally {
    socket.destroy();
  }
}
