/**
 * `@Payload(key, ...pipes)` over a real socket: Nest pipes on a payload key refuse a hostile value with a structured
 * `invalid_payload` on every tier, a pipe class is instantiated through Nest's injector (its dependencies injected),
 * and a good value reaches the handler.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  BadRequestException, Catch, HttpException, Injectable, ParseIntPipe, UseGuards, type ArgumentsHost, type CanActivate, type ExceptionFilter, type PipeTransform,
} from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { Response } from 'express';
import { BridgeTier, EventHandler, Payload, ReflexBridgeModule, State } from '@reflex-bridge/nest';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';

const ROOT = 'reflex___state____state';
const PICKER = `${ROOT}.picker_state`;

/** An app's setting that a pipe reads: injected, so the pipe must come from Nest's container. */
@Injectable()
class IdLimits {
  readonly max = Number.MAX_SAFE_INTEGER;
}

/** Refuses ids outside [1, limits.max], asynchronously (as a pipe that looks something up would). */
@Injectable()
class SafeIdPipe implements PipeTransform<number, Promise<number>> {
  constructor(private readonly limits: IdLimits) {}

  async transform(value: number): Promise<number> {
    await Promise.resolve();
    if (!Number.isSafeInteger(value) || value < 1 || value > this.limits.max) throw new BadRequestException(`an id is an integer from 1 to ${this.limits.max}`);
    return value;
  }
}

/** Counts the values it is given, as a pipe that looks each one up would: shows which clients' values reach pipes. */
class LookupPipe implements PipeTransform<number, number> {
  static runs = 0;
  transform(value: number): number {
    LookupPipe.runs += 1;
    return value;
  }
}

/**
 * The app's catch-all filter, as Nest's docs write one (an `HttpException` answers its status, anything else 500): a
 * pipe's refusal must still reach the client as `invalid_payload` with its details, on `full` as on the other tiers.
 */
@Catch()
class AllExceptionsFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const status = exception instanceof HttpException ? exception.getStatus() : 500;
    host.switchToHttp().getResponse<Response>().status(status).json({ statusCode: status, message: status === 500 ? 'Internal server error' : (exception as Error).message });
  }
}

/** Lets nobody through. */
class ClosedGuard implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

@State()
class PickerState {
  picked = 0;

  @EventHandler()
  @BridgeTier('none')
  pickNone(@Payload('id', ParseIntPipe) id: number): void {
    this.picked = id;
  }

  @EventHandler()
  @BridgeTier('auth_only')
  pickAuth(@Payload('id', ParseIntPipe) id: number): void {
    this.picked = id;
  }

  @EventHandler()
  @BridgeTier('full')
  pickFull(@Payload('id', ParseIntPipe) id: number): void {
    this.picked = id;
  }

  @EventHandler()
  @BridgeTier('full')
  @UseGuards(ClosedGuard)
  pickClosed(@Payload('id', ParseIntPipe, LookupPipe) id: number): void {
    this.picked = id;
  }

  @EventHandler()
  @BridgeTier('none')
  pickSafe(@Payload('id', ParseIntPipe, SafeIdPipe) id: number): void {
    this.picked = id;
  }
}

describe('@Payload(key, ...pipes)', () => {
  let running: RunningApp;
  let client: RawSocket;
  const logger = new CapturingLogger();

  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot()], providers: [IdLimits, PickerState, { provide: APP_FILTER, useClass: AllExceptionsFilter }] }, undefined, logger);
    client = await RawSocket.hydrated(running.url);
  });
  afterAll(async () => {
    client?.close();
    await running?.close();
  });

  /** Sends `payload` to `handler` and answers the error it got, or undefined once `picked` became `payload.id`. */
  const send = async (handler: string, payload: Record<string, unknown>) => {
    const before = client.errors.length;
    client.send(`${PICKER}.${handler}`, payload);
    await client.until(() => client.errors.length > before || client.latest(PICKER, 'picked') === payload.id, undefined, `${handler}'s answer`);
    return client.errors[before];
  };

  it.each(['pickNone', 'pickAuth', 'pickFull'])('%s: ParseIntPipe refuses 1.5 and 1e300, the type check "abc", with invalid_payload; 7 is picked', async (handler) => {
    for (const id of [1.5, 1e300]) {
      expect(await send(handler, { id })).toEqual({
        code: 'invalid_payload',
        message: 'payload.id was refused.',
        details: ['payload.id: Validation failed (numeric string is expected)'],
        event: `${PICKER}.${handler}`,
        status: 400,
      });
    }
    expect(await send(handler, { id: 'abc' })).toMatchObject({ code: 'invalid_payload', details: ['payload.id: expected number, got string'] });
    expect(await send(handler, { id: 7 })).toBeUndefined();
    expect(await send(handler, { id: 8 })).toBeUndefined();
    // A client's refused value is its own answer, not a server error: nothing logged (on full, Nest's exception
    // handling sees the refusal).
    expect(logger.lines.filter((line) => line.level === 'error')).toEqual([]);
  });

  it('an injectable async pipe after ParseIntPipe refuses 2^53 (which ParseIntPipe lets through) and 0; 7 is picked', async () => {
    for (const id of [2 ** 53, 0, -3]) {
      expect(await send('pickSafe', { id })).toMatchObject({ code: 'invalid_payload', details: [`payload.id: an id is an integer from 1 to ${Number.MAX_SAFE_INTEGER}`] });
    }
    expect(await send('pickSafe', { id: 1.5 })).toMatchObject({ code: 'invalid_payload', details: ['payload.id: Validation failed (numeric string is expected)'] });
    expect(await send('pickSafe', { id: 7 })).toBeUndefined();
  });

  it('runs the pipes after the handler\'s own guards, as Nest does: a client they refuse is told forbidden, and its value reaches no pipe', async () => {
    const runs = LookupPipe.runs;
    expect(await send('pickClosed', { id: 1.5 })).toMatchObject({ code: 'forbidden' });
    expect(await send('pickClosed', { id: 9 })).toMatchObject({ code: 'forbidden' });
    expect(LookupPipe.runs).toBe(runs);
  });
});
