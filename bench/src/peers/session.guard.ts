import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { IncomingMessage } from 'node:http';
import type { Session, SessionData } from 'express-session';
import type { Socket } from 'socket.io';
import { findUser, type AuthStack, type BenchUser } from '../server/auth-stack.js';

/** Injection token of the app's auth stack (express-session + passport), shared with its HTTP routes. */
export const AUTH_STACK = Symbol('AUTH_STACK');

/** The handshake request once the session middleware ran on it. */
type SessionRequest = IncomingMessage & { session?: Session & Partial<SessionData> & { passport?: { user?: unknown } }; user?: BenchUser };

/** A response for middleware that wants one: nothing is ever sent on it (a socket event has no HTTP response). */
const NO_RESPONSE = {} as Response;

/**
 * What a Nest developer writes to authenticate socket events without this module: load the express-session
 * named by the handshake's cookie, through the app's own session middleware (same store, same cookie, same
 * secret as the HTTP side), and require the user passport stored in it. The session is loaded again for every
 * event (the previous event's copy is dropped first), so a logout or a change made over HTTP is seen at once,
 * as the bridge's `full` and `auth_only` tiers see it.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  constructor(@Inject(AUTH_STACK) private readonly stack: AuthStack) {}

  canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToWs().getClient<Socket>().request as SessionRequest;
    // express-session skips a request that already has a session: drop the last event's to read the store again.
    delete request.session;
    return new Promise((resolve, reject) => {
      this.stack.session(request as Request, NO_RESPONSE, (error?: unknown) => {
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        request.user = findUser(request.session?.passport?.user);
        resolve(Boolean(request.user));
      });
    });
  }
}
