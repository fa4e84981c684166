import { Injectable, Logger } from '@nestjs/common';
import type { EventClient } from '../common/event-client.js';
import { LogBudget } from '../common/log-budget.js';
import { logText, ownValue } from '../common/log-text.js';

/** Longest `info` (error name, message and stack) logged, in characters; the rest is counted, not logged. */
export const FRONTEND_EXCEPTION_INFO_CHARS = 4000;
/** Longest `component_stack` logged, in characters. */
export const FRONTEND_EXCEPTION_STACK_CHARS = 2000;

/**
 * Logs the browser's uncaught errors a Reflex page reports: `state.js` sends
 * `reflex___state____state.reflex___state____frontend_event_exception_state.handle_frontend_exception` with
 * `{info, component_stack}` from `window.onerror` and `onunhandledrejection`. Each report becomes one `error` line
 * of Nest's `Logger` (context `ReflexBridge`), as Reflex's default frontend exception handler logs it.
 *
 * The page is the sender, and any page can send anything: a report is read without calling anything it carries
 * (only own string properties, see {@link ownValue}), cut to {@link FRONTEND_EXCEPTION_INFO_CHARS} /
 * {@link FRONTEND_EXCEPTION_STACK_CHARS} characters with control characters escaped, and counted against Reflex's
 * `client_error` limits: 5 per connection, 20 a minute per process. Reports over them are dropped (their number
 * is logged with the next one that passes). Nothing is sent back to the page.
 */
@Injectable()
export class FrontendExceptionLog {
  private readonly logger = new Logger('ReflexBridge');
  private readonly budget = new LogBudget<EventClient>({ perSource: 5, perWindow: 20, windowMs: 60_000 });

  /** Logs one report from `client`, within the limits. Never throws. */
  record(client: EventClient, payload: unknown): void {
    const { allowed, droppedBefore } = this.budget.take(client);
    if (!allowed) return;
    const info = logText(ownValue(payload, 'info'), FRONTEND_EXCEPTION_INFO_CHARS) || '(no info)';
    const componentStack = logText(ownValue(payload, 'component_stack'), FRONTEND_EXCEPTION_STACK_CHARS);
    const token = client.token ?? '';
    const dropped = droppedBefore > 0 ? ` (${droppedBefore} earlier reports over the limits were dropped)` : '';
    this.logger.error(
      `[Reflex Frontend Exception] from ${token.slice(0, 8)}…: ${info}${componentStack ? ` | component stack: ${componentStack}` : ''}${dropped}`,
    );
  }
}
