import type { HttpServer } from '@nestjs/common';

/**
 * Runs `drain` when Nest begins closing the app (`app.close()`, or a signal with `enableShutdownHooks()`: both go
 * through the same shutdown sequence), right after the HTTP adapter's own `beforeClose`, which Nest awaits before any
 * `onModuleDestroy`, `beforeApplicationShutdown` or `onApplicationShutdown` hook.
 *
 * Why not only the gateway's `onModuleDestroy`: Nest calls that hook module by module, the root module first and
 * global modules (ReflexBridgeModule is one) last, so every app provider that closes a Redis client, a pg pool or a
 * DataSource in its own `onModuleDestroy` did so while events were still running (and new ones still accepted): the
 * running handler then failed (`handler_error` "The client is closed").
 *
 * Wrappers chain: several bridge modules of one app each wrap the hook, each after the adapter's own.
 */
export function drainBeforeClose(adapter: Pick<HttpServer, 'beforeClose'>, drain: () => Promise<void>): void {
  const before = adapter.beforeClose;
  adapter.beforeClose = async function (this: unknown): Promise<void> {
    await before?.call(this);
    await drain();
  };
}
