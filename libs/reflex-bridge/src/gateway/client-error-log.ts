import type { Logger } from '@nestjs/common';

const PER_SOCKET_LIMIT = 5;
const PER_PROCESS_LIMIT = 20;
const WINDOW_MS = 60_000;

/**
 * Logs the `client_error` reports browsers send, with Reflex's limits (5 per socket, 20 per minute per
 * process) so a broken or hostile page cannot flood the logs.
 */
export class ClientErrorLog {
  private readonly perSocket = new Map<string, number>();
  private windowStart = Date.now();
  private inWindow = 0;

  constructor(private readonly logger: Logger) {}

  record(sid: string, token: string | undefined, report: unknown): void {
    if (!token) return;
    const now = Date.now();
    if (now - this.windowStart > WINDOW_MS) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    const count = this.perSocket.get(sid) ?? 0;
    if (count >= PER_SOCKET_LIMIT || this.inWindow >= PER_PROCESS_LIMIT) return;
    this.perSocket.set(sid, count + 1);
    this.inWindow++;
    const body = (typeof report === 'object' && report !== null ? report : { message: String(report) }) as Record<string, unknown>;
    const message = String(body.message ?? '').slice(0, 1000);
    const type = String(body.error_type ?? 'unknown').slice(0, 100);
    this.logger.warn(`client_error from ${token.slice(0, 8)}…: ${type}: ${message}`);
  }

  forget(sid: string): void {
    this.perSocket.delete(sid);
  }
}
