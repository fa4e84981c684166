/**
 * A handler's failure in the logs, over a real socket: one line per failure (within the bridge's limits), with a
 * message quoting the client's input escaped, on every tier; Nest's own `ExceptionsHandler` line does not come on
 * top of it on the `full` tier (it was unbounded, and quoted the input raw).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BridgeTier, EventHandler, Payload, ReflexBridgeModule, State } from '@reflex-bridge/nest';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { RawSocket } from './support/raw-socket.js';

const FAILING = 'reflex___state____state.failing_state';

@State()
class FailingState {
  @EventHandler()
  @BridgeTier('none')
  failNone(@Payload('name') name: string): void {
    throw new Error(`no product named ${name}`);
  }

  @EventHandler()
  @BridgeTier('full')
  failFull(@Payload('name') name: string): void {
    throw new Error(`no product named ${name}`);
  }
}

describe('handler failures in the logs', () => {
  let running: RunningApp;
  let client: RawSocket;
  const logger = new CapturingLogger();

  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot()], providers: [FailingState] }, undefined, logger);
    client = await RawSocket.hydrated(running.url);
  });
  afterAll(async () => {
    client?.close();
    await running?.close();
  });

  it.each(['failNone', 'failFull'])('%s: a failure quoting "\\n[Nest] …" is one escaped line per event', async (handler) => {
    const from = logger.lines.length;
    const before = client.errors.length;
    const sent = 3;
    for (let i = 0; i < sent; i++) client.send(`${FAILING}.${handler}`, { name: `x${i}\n[Nest] 1  - LOG [Auth] admin logged in` });
    await client.until(() => client.errors.length === before + sent, undefined, 'the failures');
    const errors = logger.lines.slice(from).filter((line) => line.level === 'error');
    expect(errors).toHaveLength(sent);
    for (const { message } of errors) {
      expect(message).toMatch(new RegExp(`^Event ${FAILING}\\.${handler} failed: Error: no product named x\\d\\\\n\\[Nest\\] 1  - LOG \\[Auth\\] admin logged in\\n`));
      expect(message.split('\n').slice(1).filter((line) => !line.startsWith('    at '))).toEqual([]);
    }
  });
});
