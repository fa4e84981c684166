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
  // Nest's Socket.IO adapter, without the RxJS pipelines it builds per socket: less memory per open tab.
  app.useWebSocketAdapter(new BridgeIoAdapter(app));
  mountHttpRoutes(app, app.get<AuthMiddleware>(AUTH_MIDDLEWARE));
  if (config.host) await app.listen(config.port, config.host);
  else await app.listen(config.port);
  console.log(`Shop listening on http://localhost:${config.port}`);
}

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
  cluster.on('fork', (worker) => forkedAt.set(worker.id, Date.now()));
  cluster.on('listening', () => (anyListened = true));
  for (let i = 0; i < config.workers; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    const uptimeMs = Date.now() - (forkedAt.get(worker.id) ?? Date.now());
    forkedAt.delete(worker.id);
    if (!anyListened && ++failedStarts >= MAX_FAILED_STARTS) {
      console.error(`${failedStarts} workers exited before any listened (the last: ${signal ?? code}): they cannot start; stopping. Their errors are above.`);
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill();
      process.exit(1);
    }
    const delayMs = backoff.delayAfter(uptimeMs);
    console.warn(`Worker ${worker.process.pid} exited (${signal ?? code}); starting another in ${delayMs} ms`);
    setTimeout(() => cluster.fork(), delayMs);
  });
} else {
  await bootstrap();
}
