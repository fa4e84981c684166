import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { SessionTracker, type TrackedSocket } from './session-tracker.service.js';

/** A tracker whose auth middleware always fails with `message` (a session store that is down). */
function trackerFailingWith(message: string): SessionTracker {
  const options = { bridge: { authMiddleware: [() => undefined] } } as unknown as ResolvedReflexBridgeOptions;
  const bridge = { authenticate: () => Promise.reject(new Error(message)) };
  const endings = { subscribe: () => undefined };
  const sightings = { onSeen: () => undefined };
  return new SessionTracker(options, bridge as never, {} as never, {} as never, endings as never, {} as never, sightings as never);
}

describe('SessionTracker.track', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('logs a session store failure within limits, escaped, however many connections meet it', async () => {
    const warnings: string[] = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((line: unknown) => void warnings.push(String(line)));
    const tracker = trackerFailingWith('connect ECONNREFUSED 127.0.0.1:6379\n[Nest] forged line');
    for (let i = 0; i < 200; i++) expect(await tracker.track({} as TrackedSocket)).toEqual({ known: false });
    expect(warnings).toHaveLength(5);
    for (const line of warnings) expect(line).not.toContain('\n');
    expect(warnings[0]).toContain('ECONNREFUSED');
  });
});
