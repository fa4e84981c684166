/**
 * Devtools under hostile tabs: what a client sends (state values, page paths, error texts) is kept truncated in the
 * event buffer, whatever its size, and what the devtools hold stays bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Module } from '@nestjs/common';
import { BridgeDevtools, BridgeTier, EventHandler, Payload, ReflexBridgeModule, State } from '@reflex-bridge/nest';
import { EventPipeline } from '../libs/reflex-bridge/src/pipeline/event-pipeline.service.js';
import type { EventClient } from '../libs/reflex-bridge/src/common/event-client.js';
import { startApp, type RunningApp } from './support/app.js';

// V8's gc() without starting Jest with --expose-gc (a new context picks the flag up).
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const NOTE = 'reflex___state____state.note_state';

@State()
@BridgeTier('none')
class NoteState {
  text = '';

  /** Stores what the tab typed: a hostile tab types a megabyte. */
  @EventHandler()
  write(@Payload('text') text: string): void {
    this.text = text;
  }
}

@Module({ providers: [NoteState] })
class NoteModule {}

/** A client of `pipeline` in this process whose answers are dropped: `send` runs one event of it to its end. */
function inProcessTab(pipeline: EventPipeline, token = randomUUID()) {
  const client: EventClient = { token, sid: `sid-${token}`, headers: {}, remoteAddress: '127.0.0.1', emitUpdate: () => undefined, emitError: () => undefined };
  return async (name: string, payload: Record<string, unknown>, pathname = '/') => {
    const pending = pipeline.handle(client, { name, payload, router_data: { pathname, asPath: pathname } });
    if (pending) await pending;
  };
}

function heapAfterCollection(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

describe('devtools: hostile tabs', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp({ imports: [ReflexBridgeModule.forRoot({ devtools: { maxEvents: 100 }, rateLimit: false }), NoteModule] });
  });
  afterAll(async () => {
    await running?.close();
  });

  it('keeps only the truncated text of large state values and page paths, not the whole strings', async () => {
    const send = inProcessTab(running.app.get(EventPipeline));
    const devtools = running.app.get(BridgeDevtools);
    await send(`${NOTE}.write`, { text: 'warm-up' });
    const before = heapAfterCollection();
    // 100 events (the buffer's size), each with a 300 kB value and a 300 kB path: 60 MB if kept whole.
    for (let i = 0; i < 100; i++) await send(`${NOTE}.write`, { text: `${i}`.padEnd(300_000, 'v') }, `/${i}`.padEnd(300_000, 'p'));
    const kept = heapAfterCollection() - before;
    const latest = devtools.latest()!;
    expect(latest.path!.length).toBeLessThanOrEqual(1_001);
    expect(latest.delta!.length).toBeLessThanOrEqual(8_001);
    expect(devtools.size).toBe(100);
    // The buffer's truncated texts (about 2 MB) and the token's state (300 kB), not 60 MB.
    expect(kept).toBeLessThan(12_000_000);
  }, 120_000);
});
