/**
 * Nest's request lifecycle on `full` events, over a real socket: the handler's guards run first, then its interceptors,
 * then payload validation (the built-in type and DTO checks, then the pipes), then the handler. A client the guards
 * refuse (anonymous, or the wrong role) is told `forbidden` whatever it sends, learns nothing of the handler's input
 * shape (no field names, no constraints), and its payload costs no validation; an allowed client gets
 * `invalid_payload` with the field details.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  Catch, HttpException, Injectable, UseGuards, UseInterceptors, type ArgumentsHost, type CallHandler, type CanActivate, type ExceptionFilter, type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { RequestHandler, Response } from 'express';
import { IsInt, IsString, Max, Min, Validate, ValidatorConstraint, type ValidatorConstraintInterface } from 'class-validator';
import type { Observable } from 'rxjs';
import { EventHandler, Payload, ReflexBridgeModule, State, type SyntheticRequest } from '@reflex-bridge/nest';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';

const VAULT = 'reflex___state____state.vault_state';

/** What ran for the last event, in order: the guard, the interceptor, the DTO's custom validator. */
const trail: string[] = [];

const USERS: Record<string, { name: string; role: string }> = {
  alice: { name: 'alice', role: 'admin' },
  bob: { name: 'bob', role: 'user' },
};

/** The app's auth middleware: the user its handshake names (a stand-in for a session lookup). */
const auth: RequestHandler = (req, _res, next) => {
  const name = req.headers['x-user'];
  if (typeof name === 'string' && USERS[name]) (req as unknown as SyntheticRequest).user = USERS[name];
  next();
};

/** The app's ordinary HTTP guard: admins only. */
@Injectable()
class AdminGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    trail.push('guard');
    return context.switchToHttp().getRequest<{ user?: { role: string } }>().user?.role === 'admin';
  }
}

@Injectable()
class AuditInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    trail.push('interceptor');
    return next.handle();
  }
}

/**
 * The app's catch-all filter, as Nest's docs write one: an `HttpException` answers its status, anything else 500. It
 * must not turn the module's own `invalid_payload` (with its details) into a `handler_error`.
 */
@Catch()
class AllExceptionsFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const status = exception instanceof HttpException ? exception.getStatus() : 500;
    host.switchToHttp().getResponse<Response>().status(status).json({ statusCode: status, message: status === 500 ? 'Internal server error' : (exception as Error).message });
  }
}

/** A check with a cost (a lookup, in a real app): only clients the guards let through should pay for it. */
@ValidatorConstraint({ name: 'knownAccount' })
class KnownAccount implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    trail.push('validate');
    return typeof value === 'string' && value.startsWith('AC');
  }

  defaultMessage(): string {
    return 'accountNumber must name a known account';
  }
}

class TransferDto {
  @IsInt() @Min(1) @Max(10_000) cents!: number;
  @IsString() @Validate(KnownAccount) accountNumber!: string;
}

@State()
class VaultState {
  moved = 0;
  limit = 0;

  @EventHandler()
  @UseGuards(AdminGuard)
  @UseInterceptors(AuditInterceptor)
  transfer(transfer: TransferDto): void {
    this.moved += transfer.cents;
  }

  @EventHandler()
  @UseGuards(AdminGuard)
  setLimit(@Payload('dailyLimitCents') limit: number): void {
    this.limit = limit;
  }
}

describe('on full events, the guards run before payload validation (Nest\'s order)', () => {
  let running: RunningApp;
  const sockets: RawSocket[] = [];
  const logger = new CapturingLogger();

  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ bridge: { mode: 'full', authMiddleware: [auth] } })], providers: [VaultState, { provide: APP_FILTER, useClass: AllExceptionsFilter }] }, undefined, logger);
  });
  afterAll(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await running?.close();
  });

  const connect = async (user?: string): Promise<RawSocket> => {
    const socket = new RawSocket(running.url, undefined, { headers: user ? { 'x-user': user } : {} });
    sockets.push(socket);
    await socket.connected();
    await socket.hydrate();
    return socket;
  };

  /** Sends one event; answers its error and everything the client received for it (as text), once it is answered. */
  const send = async (client: RawSocket, handler: string, payload: Record<string, unknown>, done: () => boolean = () => false) => {
    trail.length = 0;
    const errors = client.errors.length;
    const updates = client.updates.length;
    client.send(`${VAULT}.${handler}`, payload);
    await client.until(() => client.errors.length > errors || done(), undefined, `${handler}'s answer`);
    return { error: client.errors[errors], received: JSON.stringify([client.errors.slice(errors), client.updates.slice(updates)]) };
  };

  const INVALID: Array<Record<string, unknown>> = [
    { cents: 'lots', accountNumber: 7 },
    { cents: 5, accountNumber: 'XX-1' },
    { cents: 5, accountNumber: 'AC-1', isAdmin: true },
    {},
  ];

  it.each([['anonymous', undefined], ['the wrong role', 'bob']])('%s: forbidden for any payload, no field named, no validation run', async (_who, user) => {
    const client = await connect(user);
    for (const payload of INVALID) {
      const { error, received } = await send(client, 'transfer', payload);
      expect(error).toMatchObject({ code: 'forbidden', status: 403, event: `${VAULT}.transfer` });
      for (const field of ['cents', 'accountNumber', 'isAdmin', 'known account', 'should not exist']) expect(received).not.toContain(field);
      // The guard refused: neither the interceptor nor the (costly) validator ran.
      expect(trail).toEqual(['guard']);
    }
    for (const payload of [{ dailyLimitCents: 'a lot' }, {}]) {
      const { error, received } = await send(client, 'setLimit', payload);
      expect(error).toMatchObject({ code: 'forbidden', status: 403 });
      expect(received).not.toContain('dailyLimitCents');
    }
    expect(client.latest(VAULT, 'moved')).toBe(0);
  });

  it('an admin: the guard, then the interceptor, then validation; invalid_payload with the field details, and a valid transfer runs', async () => {
    const client = await connect('alice');
    const refused = await send(client, 'transfer', INVALID[0]);
    expect(refused.error).toMatchObject({ code: 'invalid_payload', event: `${VAULT}.transfer` });
    expect(refused.error.details).toEqual(expect.arrayContaining([expect.stringMatching(/^cents: /), expect.stringMatching(/^accountNumber: /)]));
    expect(trail).toEqual(['guard', 'interceptor', 'validate']);
    expect((await send(client, 'transfer', INVALID[2])).error).toMatchObject({ code: 'invalid_payload', details: ['isAdmin: property isAdmin should not exist'] });
    expect((await send(client, 'setLimit', {})).error).toMatchObject({ code: 'invalid_payload', details: ['payload.dailyLimitCents: missing'] });

    await send(client, 'transfer', { cents: 250, accountNumber: 'AC-1' }, () => client.latest(VAULT, 'moved') === 250);
    expect(trail).toEqual(['guard', 'interceptor', 'validate']);
    await send(client, 'setLimit', { dailyLimitCents: 900 }, () => client.latest(VAULT, 'limit') === 900);
    // A client's refused payload is its own answer, not a server error.
    expect(logger.lines.filter((line) => line.level === 'error')).toEqual([]);
  });
});
