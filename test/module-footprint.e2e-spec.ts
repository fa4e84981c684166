/**
 * What the module loads into an app's process. Its optional and situational dependencies (TypeORM for the database
 * health check, node-redis through `@keyv/redis`, class-validator for DTO parameters, the dev-server proxy) are
 * imported only when the app uses what needs them: a monorepo has them all installed, and an app on the in-memory
 * defaults paid about 12 MB of heap and 170 ms of start-up for them. The app runs in a process of its own (a test
 * runner loads modules of its own), on the built packages, and serves a hydrate, an event and `/_health` first.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { buildShop } from './support/shop-workers.js';

const FIXTURE = new URL('./fixtures/footprint-app.mjs', import.meta.url);
const STATE = 'reflex___state____state.footprint_state';

/** Packages an app on the defaults uses none of. */
const NOT_LOADED = ['typeorm', 'pg', '@redis/client', '@keyv/redis', 'class-validator', 'class-transformer', 'http-proxy-middleware', 'prom-client', 'typescript'];

interface Loaded {
  loaded: string[];
}

function nextMessage<T>(child: ChildProcess, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const exited = (code: number | null) => reject(new Error(`the footprint app exited (${code}) before sending ${what}`));
    child.once('exit', exited);
    child.once('message', (message) => {
      child.off('exit', exited);
      resolve(message as T);
    });
  });
}

/** The frames of `socket` until one carries the state's count `expected`. */
function countReaches(socket: Socket, expected: number): Promise<void> {
  return new Promise((resolve) => {
    const listener = (update: { delta?: Record<string, { count_rx_state_?: number }> }) => {
      if (update.delta?.[STATE]?.count_rx_state_ !== expected) return;
      socket.off('event', listener);
      resolve();
    };
    socket.on('event', listener);
  });
}

function packageOf(file: string): string | undefined {
  return /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1];
}

describe('the module in an app on its defaults', () => {
  let app: ChildProcess;
  let port: number;
  let socket: Socket | undefined;

  beforeAll(async () => {
    // The fixture runs the built packages: build them first, so the spec runs in any order on a clean checkout.
    await buildShop();
    app = fork(FIXTURE, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    ({ port } = await nextMessage<{ port: number }>(app, 'its port'));
  }, 240_000);

  afterAll(async () => {
    socket?.close();
    if (app.exitCode === null) {
      const exited = new Promise((resolve) => app.once('exit', resolve));
      app.send('close');
      await exited;
    }
  });

  it('serves events and /_health without loading TypeORM, node-redis, class-validator or the dev-server proxy', async () => {
    socket = io(`http://127.0.0.1:${port}/_event`, { path: '/_event', transports: ['websocket'], query: { token: randomUUID() }, reconnection: false });
    await new Promise<void>((resolve, reject) => {
      socket!.once('connect', resolve);
      socket!.once('connect_error', reject);
    });
    const hydrated = countReaches(socket, 0);
    socket.emit('event', { name: 'reflex___state____state.hydrate', payload: {}, router_data: { pathname: '/' } });
    await hydrated;
    const incremented = countReaches(socket, 1);
    socket.emit('event', { name: `${STATE}.increment`, payload: {}, router_data: { pathname: '/' } });
    await incremented;
    const health = await fetch(`http://127.0.0.1:${port}/_health`);
    expect(health.status).toBe(200);

    const reply = nextMessage<Loaded>(app, 'what it loaded');
    app.send('loaded');
    const { loaded } = await reply;
    const packages = new Set(loaded.map(packageOf));
    // What it must hold (so an empty list cannot pass): the socket server it serves with.
    expect(packages.has('socket.io')).toBe(true);
    expect(NOT_LOADED.filter((name) => packages.has(name))).toEqual([]);
  }, 60_000);
});
