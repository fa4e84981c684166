import { Injectable } from '@nestjs/common';
import type { BridgeErrorPayload } from '../protocol/bridge-error.js';
import { toast, type ClientEvent } from '../protocol/client-event.js';

/**
 * Decides what a user sees when one of their events is refused or fails: given the structured error, it returns
 * the client events to send (a toast, an alert, a redirect, or nothing). Reflex frontends run them as they run
 * the events of Reflex's own backend exception handler; `@reflex-bridge/client` reports the structured error to
 * its `onError` listeners either way.
 *
 * The default shows the error's message in Reflex's toaster, or in a `window.alert` where the page has none. To
 * change it, extend this class and name the subclass in the module's `errorPresenter` option (it is created with
 * DI, so it may inject the app's services).
 * @example
 * ```ts
 * @Injectable()
 * export class QuietErrors extends BridgeErrorPresenter {
 *   override present(error: BridgeErrorPayload): ClientEvent[] {
 *     if (error.code === 'unauthorized') return [redirect('/login')];
 *     return error.code === 'rate_limited' ? [] : super.present(error);
 *   }
 * }
 * // ReflexBridgeModule.forRoot({ errorPresenter: QuietErrors })
 * ```
 * @publicApi
 */
@Injectable()
export class BridgeErrorPresenter {
  /**
   * The client events that show `error` to the user. The message is production-safe already (a handler's
   * exception becomes a generic `handler_error` text with `production: true`), and any text is safe to show:
   * the helpers encode it. Called on the error path only: once per refused or failed event, except for `busy`
   * (a flood's refusals), where its answer for an event name is made once and sent again for that name's later
   * refusals. Refusals that come by the hundred are shown with the first of each episode (`busy`: since the
   * client's queue was last below half its limits; the connection budget's `rate_limited`: of each block), then at
   * most once per 4 s per connection, about as long as a toast stays on screen, so that a click refused once the
   * first toast faded is shown too; the others get the structured `bridge_error` alone.
   */
  present(error: BridgeErrorPayload): ClientEvent[] {
    // One id: a burst of refusals (a flood of clicks) replaces one toast instead of stacking many.
    return [toast(error.message, { level: 'error', fallbackToAlert: true, id: 'bridge_error', position: 'top-center' })];
  }
}
