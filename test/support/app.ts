import type { INestApplication, LoggerService, ModuleMetadata } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';

/** A real Nest app listening on a free loopback port. */
export interface RunningApp {
  app: INestApplication;
  url: string;
  close(): Promise<void>;
}

/** Compiles `metadata` into an app, listens on port 0 and returns its base URL. */
export async function startApp(
  metadata: ModuleMetadata,
  configure?: (app: INestApplication) => void | Promise<void>,
  logger: LoggerService | ['error'] = ['error'],
): Promise<RunningApp> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  const app = moduleRef.createNestApplication({ logger });
  await configure?.(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/** A Nest logger that records every line, to assert on what the library logs. */
export class CapturingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string; context?: string }> = [];
  log(message: unknown, context?: string): void {
    this.lines.push({ level: 'log', message: String(message), context });
  }
  warn(message: unknown, context?: string): void {
    this.lines.push({ level: 'warn', message: String(message), context });
  }
  error(message: unknown, context?: string): void {
    this.lines.push({ level: 'error', message: String(message), context });
  }
  debug(message: unknown, context?: string): void {
    this.lines.push({ level: 'debug', message: String(message), context });
  }
  verbose(message: unknown, context?: string): void {
    this.lines.push({ level: 'verbose', message: String(message), context });
  }
}
