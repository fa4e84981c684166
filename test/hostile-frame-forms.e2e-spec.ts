/**
 * Frames a hand-written client can write that Socket.IO delivers as an `event`, though no Socket.IO client writes
 * them so: the event as a JSON string (Reflex's server parses it, and so does the bridge), an `event` packet with an
 * acknowledgement id, whitespace or an escaped name, and a binary packet whose attachments never all come. Each used
 * to pass the checks made before a frame is parsed, or the bounds of what a worker holds: string events with tens of
 * thousands of new key names were parsed unchecked (8 connections held another client's round trip for 3 s), an
 * acknowledgement id made an event be charged as a message of another name (16 connections, 100-500 ms for the
 * others), and 500 connections each holding half a binary packet kept 375 MB for as long as they answered the
 * heartbeat. A real app, real Socket.IO clients writing the frames raw.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ReflexBridgeModule } from '@reflex-bridge/nest';
import { HoardState, StashState } from './fixtures/hostile.states.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { until } from './support/eventually.js';
import { RawSocket } from './support/raw-socket.js';
import { EventGateway } from '../libs/reflex-bridge/src/gateway/event.gateway.js';

const HOARD = 'reflex___state____state.hoard_state';
const WAIT_MS = 20_000;
/** A frame's limit, and what the worker's connections together may hold in binary packets begun and not finished. */
const MAX_MESSAGE_BYTES = 100_000;
const MAX_PENDING_BYTES = 300_000;

/** The engine under a Socket.IO client: `write` sends one Engine.IO message, text or binary, exactly as given. */
function engineOf(socket: RawSocket): { write(data: string | Buffer): void } {
  return socket.socket.io.engine as unknown as { write(data: string | Buffer): void };
}

/** An event frame as Socket.IO clients write it, with `head` before its array and `name` written as given. */
function eventFrame(event: unknown, head = '', name = '"event"'): string {
  return `2/_event,${head}[${name},${JSON.stringify(event)}]`;
}

describe('hostile clients: frames written otherwise than Socket.IO clients write them', () => {
  let running: RunningApp;
  const logger = new CapturingLogger();
  const sockets: RawSocket[] = [];
  const open = () => RawSocket.hydrated(running.url, sockets);

  beforeAll(async () => {
    running = await startApp(
      {
        imports: [
          ReflexBridgeModule.forRoot({
            maxMessageBytes: MAX_MESSAGE_BYTES,
            maxTotalUnfinishedInboundBytes: MAX_PENDING_BYTES,
            // A window far longer than the test, so that it cannot end between the frames and the event after them.
            rateLimit: { perConnection: { limit: 100, ttlMs: 600_000 } },
          }),
        ],
        providers: [HoardState, StashState],
      },
      undefined,
      logger,
    );
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await running?.close();
  });

  it('checks an event sent as a JSON string as one sent as an object: its key names are charged, and past the frame bound it is refused unparsed', async () => {
    const attacker = await open();
    // 1,001 new key names: past the 1,000 a 100 kB frame may carry. Sent as an object it is refused unparsed; sent as
    // a string it was parsed, and its handler ran.
    const names = { name: `${HOARD}.increment`, payload: { value: Object.fromEntries(Array.from({ length: 1_001 }, (_, i) => [`n${i}`, 0])) }, router_data: { pathname: '/' } };
    attacker.socket.emit('event', JSON.stringify(names));
    await attacker.until(() => attacker.errors.length > 0 || attacker.latest(HOARD, 'count') === 1, WAIT_MS, 'an answer to the string event');
    expect(attacker.errors.map((error) => [error.code, error.message])).toEqual([['invalid_payload', 'The event carries more than 1000 different key names.']]);
    // Within the bound, a string event runs as Reflex's server runs it.
    attacker.socket.emit('event', JSON.stringify({ name: `${HOARD}.increment`, payload: {}, router_data: { pathname: '/' } }));
    await attacker.untilVar(HOARD, 'count', 1, WAIT_MS);

    // 990 new names cost 9 units beyond the event's and the size's: ten such string events pass the window's 100
    // (charged by their size alone, as before, they were 20).
    const charged = await open();
    for (let frame = 0; frame < 10; frame++) {
      const value = Array.from({ length: 990 }, (_, index) => ({ [`s${frame}_${index}`]: 0 }));
      charged.socket.emit('event', JSON.stringify({ name: `${HOARD}.increment`, payload: { value }, router_data: { pathname: '/' } }));
    }
    charged.send(`${HOARD}.increment`);
    await charged.until(() => charged.errors.length > 0 || charged.latest(HOARD, 'count') === 11, WAIT_MS, 'a refusal, or every event run');
    expect(charged.errors.map((error) => error.code)).toContain('rate_limited');
    expect(charged.latest(HOARD, 'count')).toBeLessThan(10);
  });

  it('refuses unparsed a string event with more items after it, and charges other messages for their key names', async () => {
    const client = await open();
    const text = JSON.stringify(JSON.stringify({ name: `${HOARD}.increment`, payload: { pad: 'x'.repeat(1_100) }, router_data: { pathname: '/' } }));
    // What follows the string was parsed with it, unchecked (200,000 levels closed an object event's connection).
    engineOf(client).write(`2/_event,["event",${text},${'['.repeat(40_000)}${']'.repeat(40_000)}]`);
    await client.until(() => client.errors.length > 0 || client.latest(HOARD, 'count') === 1, WAIT_MS, 'an answer');
    expect([client.errors.map((error) => error.code), client.socket.connected, client.latest(HOARD, 'count')]).toEqual([['invalid_event'], true, 0]);

    // 990 new key names cost a `client_error` report 9 units beyond its size's, as they cost an event: ten of them
    // pass the window's 100 (charged by their size, they were 20), and the next event is refused.
    const reporter = await open();
    for (let report = 0; report < 10; report++) {
      reporter.socket.emit('client_error', { message: 'x', error_type: 'y', names: Object.fromEntries(Array.from({ length: 990 }, (_, index) => [`r${report}_${index}`, 0])) });
    }
    reporter.send(`${HOARD}.increment`);
    await reporter.until(() => reporter.errors.length > 0 || reporter.latest(HOARD, 'count') === 1, WAIT_MS, 'an answer to the event');
    expect(reporter.errors.map((error) => error.code)).toEqual(['rate_limited']);
  });

  it('answers an event written with an acknowledgement id, whitespace or an escaped name invalid_event, unparsed, and goes on serving the connection', async () => {
    const client = await open();
    const event = { name: `${HOARD}.increment`, payload: {}, router_data: { pathname: '/' } };
    const written = [eventFrame(event, '7'), eventFrame(event, ' '), eventFrame(event, '', '\n"event"'), eventFrame(event, '', '"\\u0065vent"')];
    for (const frame of written) engineOf(client).write(frame);
    await client.until(() => client.errors.length === written.length, WAIT_MS, 'an answer to each');
    expect(client.errors.map((error) => error.code)).toEqual(written.map(() => 'invalid_event'));
    expect(client.errors[0]!.message).toContain('with no acknowledgement id');
    // None ran; the events written as Socket.IO clients write them run as before, in order.
    client.send(`${HOARD}.increment`);
    await client.untilVar(HOARD, 'count', 1, WAIT_MS);
    expect(client.socket.connected).toBe(true);
  });

  it('charges such an event as an event: past the budget, the next one is refused', async () => {
    // Charged as a message of another name, an 80 kB event with an acknowledgement id cost 1 unit less than it should
    // and was parsed even past the budget. Now each costs its size's 9 units and the event's 1: the 10th passes 100.
    const attacker = await open();
    const large = { name: `${HOARD}.increment`, payload: { text: 'x'.repeat(80_000) }, router_data: { pathname: '/' } };
    for (let i = 0; i < 11; i++) engineOf(attacker).write(eventFrame(large, '1'));
    attacker.send(`${HOARD}.increment`);
    await attacker.until(() => attacker.errors.some((error) => error.code === 'rate_limited'), WAIT_MS, 'a refusal for the budget');
    expect(attacker.latest(HOARD, 'count')).toBe(0);
  });

  it('bounds what all connections hold in binary packets begun and not finished, closing the one that would pass it', async () => {
    const announce = '52-/_event,["event",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]';
    /** Begins a packet promising two attachments and sends the first, of 90 kB: it is held until the second comes. */
    const begin = (socket: RawSocket) => {
      engineOf(socket).write(announce);
      engineOf(socket).write(Buffer.alloc(90_000, 1));
    };
    /** Sends the packet's last attachment; the packet is answered (a binary event is refused, as always) or closed. */
    const finish = async (socket: RawSocket) => {
      engineOf(socket).write(Buffer.alloc(10, 2));
      await socket.until(() => socket.errors.length > 0 || !socket.socket.connected, WAIT_MS, 'the answer to its packet');
      expect([socket.socket.connected, socket.errors.map((error) => error.code)]).toEqual([true, ['invalid_event']]);
    };
    // Four each hold one: three hold 270 kB of the 300 kB, and whichever comes fourth would pass it and is closed.
    // Nothing else bounded them: they were held for as long as the heartbeat ran.
    const holders = [await open(), await open(), await open(), await open()];
    for (const holder of holders) begin(holder);
    await until(() => holders.some((holder) => !holder.socket.connected) || undefined, 'the connection that passed the bound to close');
    const held = holders.filter((holder) => holder.socket.connected);
    expect(held).toHaveLength(3);
    // A packet that ends frees what it held: another connection may then hold as much, and finish it.
    await finish(held[0]!);
    const next = await open();
    begin(next);
    await finish(next);
    // A connection that closes lets go of its packet too: with a third holder beside the two, the server is at 270 kB
    // again, and once one of them has left (the server saw it go) a new one fits.
    const third = await open();
    begin(third);
    const engine = running.app.get(EventGateway).server!.server.engine;
    const before = engine.clientsCount;
    held[1]!.close();
    await until(() => engine.clientsCount < before || undefined, 'the server to see the holder leave');
    const after = await open();
    begin(after);
    await finish(after);
    await finish(third);
  });
});
