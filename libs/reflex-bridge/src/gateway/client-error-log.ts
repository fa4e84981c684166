import type { Logger } from '@nestjs/common';

const PER_SOCKET_LIMIT = 5;
const PER_PROCESS_LIMIT = 20;
const WINDOW_MS = 60_000;

/**
 * A log-safe text for a value a browser sent: never calls a conversion the sender controls (an object's
 * `toString` may be anything, even a number), cut to `max` characters, control characters blanked so a report
 * cannot forge log lines.
 */
function logText(value: unknown, max: number): string {
  let text: string;
  if (typeof value === 'string') text = value.length > max ? value.slice(0, max) : value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = `${value}`;
  else if (value === undefined || value === null) text = '';
  else text = `(${Array.isArray(value) ? 'array' : typeof value})`;
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ');
}

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
    const body = typeof report === 'object' && report !== null && !Array.isArray(report) ? (report as Record<string, unknown>) : { message: report };
    const message = logText(body.message, 1000);
    const type = logText(body.error_type, 100) || 'unknown';
    this.logger.warn(`client_error from ${token.slice(0, 8)}…: ${type}: ${message}`);
  }

  forget(sid: string): void {
    this.perSocket.delete(sid);
  }
}
