import 'reflect-metadata';
import cluster from 'node:cluster';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { readShopConfig } from './shop.config.js';
import { BridgeIoAdapter } from '@reflex-bridge/nest';
import { ShopModule } from './shop.module.js';
import { AUTH_MIDDLEWARE, type AuthMiddleware } from './auth/auth-middleware.js';
import { mountHttpRoutes } from './http-routes.js';
import { prepareDatabase } from './database-preparation.js';
import { RestartBackoff } from './restart-backoff.js';

async function bootstrap(): Promise<void> {
  const config = readShopConfig();
  const app = await NestFactory.create<NestExpressApplication>(ShopModule.forRoot(config));
  // Behind a TLS proxy: req.ip and req.secure (and so secure session cookies) come from its headers.
  if (config.trustProxy) app.set('trust proxy', 1);
  // Nothing tells a client which framework answers.
  app.disable('x-powered-by');
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
  // SIGTERM / SIGINT close the app (the running events finish and are answered first), then the process exits 0: a stop
  // the process manager asked for is a success. Without useProcessExit, Nest sends the signal again once closed, so a
  // clean stop ended "killed by SIGTERM" (status 143 to a shell, Docker or Kubernetes, which report it as a failure).
  app.enableShutdownHooks([], { useProcessExit: true });
  // Says when a stop reached this process (after Nest's own listener, which began the drain): with WORKERS, one line
  // per worker shows that each got it. Nest ignores the same signal sent again while it stops (in WORKERS mode a
  // process manager signals the whole process group and the primary passes the signal on as well).
  for (const signal of STOP_SIGNALS) process.once(signal, () => console.log(`Shop process ${process.pid} stopping (${signal}): finishing the running events, then exiting`));
  // Nest's Socket.IO adapter, without the RxJS pipelines it builds per socket: less memory per open tab.
  app.useWebSocketAdapter(new BridgeIoAdapter(app));
  mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
  if (config.host) await app.listen(config.port, config.host);
  else await app.listen(config.port);
  console.log(`Shop listening on http://localhost:${config.port}`);
}

/** The signals that stop the shop cleanly (Nest's `enableShutdownHooks` default list has more; these are what process managers and Ctrl-C send). */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** Workers that may exit before any has listened before the cluster primary gives up (a round of WORKERS=4, and one). */
const MAX_FAILED_STARTS = 5;

// WORKERS=N runs N worker processes sharing the port (Node's cluster module); with REDIS_URL they share
// states, sessions, the event cache, live updates and sockets. Behind nginx, run one process per port instead.
const config = readShopConfig();
if (config.workers > 1 && cluster.isPrimary) {
  // A SQLite file has no start-up lock across processes: the primary creates its tables and seeds it before forking,
  // so the workers find it ready (started at once on a fresh file, two seeded the same demo user and one died).
  if (!config.databaseUrl && config.sqlitePath !== ':memory:') await prepareDatabase(config);
  if (!process.env.REDIS_URL) console.warn('WORKERS > 1 without REDIS_URL: each worker keeps its own states and sessions.');
  // While no worker has listened yet, a worker that exits failed its start (a database out of reach, a bad setting),
  // and so will the next: forking another at once without end burned CPU and filled the log, the primary up as if
  // all were well. Past MAX_FAILED_STARTS such exits the primary stops (exit code 1) and says why, after its workers'
  // own errors. Once one has listened, workers that die are forked again (a database back up heals them), each
  // replacement of a worker that died young after a doubling delay (RestartBackoff): forked at once, workers failing
  // for as long as their database was down restarted without pause, a core busy and the log flooded.
  let anyListened = false;
  let failedStarts = 0;
  const backoff = new RestartBackoff();
  const forkedAt = new Map<number, number>();
  /** Replacements waiting for their delay: a stop cancels them. */
  const pendingForks = new Set<NodeJS.Timeout>();
  // SIGTERM / SIGINT to the primary stop the cluster cleanly: each worker is sent the signal and drains (its running
  // events finish and are answered), none is forked again, and the primary exits once they all have, 0 when they all
  // stopped cleanly. Before, the primary had no handler: the signal killed it (status 143, a failure to Docker and
  // shells), and its workers, losing their channel to it, exited at once (Node's cluster does that), mid-event: the
  // running events' answers never reached their tabs, also when the process manager signalled the whole group.
  let stopping: NodeJS.Signals | undefined;
  let failedStops = 0;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = signal;
    for (const timer of pendingForks) clearTimeout(timer);
    pendingForks.clear();
    console.log(`Stopping (${signal}): ${forkedAt.size} worker(s) finish their running events, then exit`);
    // Sent even when the whole group got the signal already: Nest's handler in the worker ignores it the second time.
    for (const worker of Object.values(cluster.workers ?? {})) if (worker && !worker.isDead()) worker.process.kill(signal);
    if (forkedAt.size === 0) process.exit(0);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, stop);
  cluster.on('fork', (worker) => forkedAt.set(worker.id, Date.now()));
  cluster.on('listening', () => (anyListened = true));
  for (let i = 0; i < config.workers; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    const uptimeMs = Date.now() - (forkedAt.get(worker.id) ?? Date.now());
    forkedAt.delete(worker.id);
    if (stopping) {
      // A worker still starting is ended by the signal itself, before it set up its handler: nothing ran there.
      if (code !== 0 && signal !== stopping) {
        failedStops++;
        console.error(`Worker ${worker.process.pid} exited (${signal ?? code}) while stopping`);
      }
      if (forkedAt.size === 0) process.exit(failedStops > 0 ? 1 : 0);
      return;
    }
    if (!anyListened && ++failedStarts >= MAX_FAILED_STARTS) {
      console.error(`${failedStarts} workers exited before any listened (the last: ${signal ?? code}): they cannot start; stopping. Their errors are above.`);
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill();
      process.exit(1);
    }
    const delayMs = backoff.delayAfter(uptimeMs);
    console.warn(`Worker ${worker.process.pid} exited (${signal ?? code}); starting another in ${delayMs} ms`);
    const timer = setTimeout(() => {
      pendingForks.delete(timer);
      cluster.fork();
    }, delayMs);
    pendingForks.add(timer);
  });
} else {
  await bootstrap();
}
