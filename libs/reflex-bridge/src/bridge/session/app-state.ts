import { registerBaseState } from '../../state/base-state.registry.js';
import { contextOf, requestOf } from '../request/event-context.js';
import type { SyntheticRequest } from '../request/synthetic-request.js';

/**
 * Base class for states that use the app's request: extending it makes a state bridge-aware in `smart`
 * mode, gives handlers `this.request` / `this.user`, and keeps two snapshot vars fresh after each bridged
 * event (`bridge.authAutoSync`). The snapshot is a UI hint only: authorise from `this.user`, which is read
 * live from the request, never from `isAuthenticated`.
 * @example
 * ```ts
 * @State()
 * export class AccountState extends AppState {
 *   @EventHandler() whoAmI() { return this.user; }
 * }
 * ```
 * @publicApi
 */
export abstract class AppState {
  /** Snapshot: whether the last bridged event's request was authenticated. */
  isAuthenticated = false;
  /** Snapshot: the user name of the last bridged event's user, or `''`. */
  username = '';
  /** Mirror (`bridge.mirrors.flash`): the flash messages the last bridged event consumed. */
  flashMessages: Array<{ level: string; message: string }> = [];
  /** Mirror (`bridge.mirrors.csrf`): the CSRF token of the last bridged event. */
  csrfToken = '';
  /** Mirror (`bridge.mirrors.language`): the active language of the last bridged event. */
  language = '';

  /** The bridged request of the current event (throws on the `none` tier). */
  get request(): SyntheticRequest {
    return requestOf(contextOf(this));
  }

  /** The current event's authenticated user, or `undefined`. */
  get user(): unknown {
    return this.request.user;
  }
}

registerBaseState(AppState);
