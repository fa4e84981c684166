import { Injectable } from '@nestjs/common';
import type { Request } from 'express';

/**
 * Logs a session out once, however many of its requests ask at the same time.
 *
 * passport's logout regenerates the session, and express-session stores the new, empty one for its whole lifetime
 * (a day) so that the browser can be handed its cookie. Logouts of one session that run together (its tabs' sockets
 * each sending `logout`, or a client sending hundreds on purpose) would each store a session of their own, of which
 * the browser keeps one: the others stay in the store, hundreds per login. Here a logout of a session whose logout is
 * in progress waits for it, and one that starts later first reads the session back from the store: when another
 * logout ended it meanwhile (its request loaded it before), there is nothing left to log out. Such requests still
 * hold the ended session, unchanged, so it is not written back, and their tabs end logged out as well.
 *
 * On several workers the read is what holds: logouts of one session that reach different workers can each
 * regenerate only when they all read the session before any of them ends it.
 */
@Injectable()
export class SessionLogouts {
  /** Logouts in progress, by the session id they log out. */
  private readonly running = new Map<string, Promise<void>>();

  /** Logs out `request`'s user, or waits for the logout of its session already in progress. */
  logOut(request: Request): Promise<void> {
    const id = request.sessionID;
    let logout = this.running.get(id);
    if (!logout) {
      logout = loggedInStill(request).then((loggedIn) => (loggedIn ? passportLogout(request) : undefined));
      const settled = (): void => void this.running.delete(id);
      logout.then(settled, settled);
      this.running.set(id, logout);
    }
    // This request's user goes too, whichever logout ended the session: the bridge reads who is logged in (its auth
    // snapshot, the tab's header) from the request once the event is done.
    return logout.then(() => {
      request.user = undefined;
    });
  }
}

/** Whether the store still holds `request`'s session with a user in it (passport keeps it under `passport.user`). */
function loggedInStill(request: Request): Promise<boolean> {
  return new Promise((resolve, reject) =>
    request.sessionStore.get(request.sessionID, (error: unknown, stored) => {
      if (error) reject(asError(error));
      else resolve((stored as { passport?: { user?: unknown } } | null | undefined)?.passport?.user !== undefined);
    }),
  );
}

/** passport's logout (which regenerates the session), as a promise. */
function passportLogout(request: Request): Promise<void> {
  return new Promise((resolve, reject) => request.logout((error) => (error ? reject(asError(error)) : resolve())));
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));
