import { describe, expect, it } from '@jest/globals';
import { HealthIndicatorService } from '@nestjs/terminus';
import type { LiveBroadcaster } from '../live/live-broadcaster.service.js';
import { LiveTransport } from '../live/live-transport.js';
import { LiveTransportHealthIndicator } from './live-transport.health-indicator.js';

/** A transport over a network the test controls: whether it is connected, and when its server answers a ping. */
class FakeTransport extends LiveTransport {
  connected = true;
  async start(): Promise<void> {}
  async publish(): Promise<void> {}
  async close(): Promise<void> {}
  override isConnected(): boolean {
    return this.connected;
  }
}

class PingableTransport extends FakeTransport {
  readonly pings: Array<{ answer: () => void; fail: (error: Error) => void }> = [];
  override ping(): Promise<void> {
    return new Promise<void>((answer, fail) => this.pings.push({ answer, fail }));
  }
}

const indicatorFor = (transport: LiveTransport) =>
  new LiveTransportHealthIndicator(new HealthIndicatorService(), { liveTransport: transport } as unknown as LiveBroadcaster);
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('LiveTransportHealthIndicator', () => {
  it('checks a transport without ping() by its connection state alone, as before', async () => {
    const transport = new FakeTransport();
    const indicator = indicatorFor(transport);
    expect(await indicator.isHealthy('live', 10)).toMatchObject({ live: { status: 'up', transport: 'FakeTransport' } });
    transport.connected = false;
    expect(await indicator.isHealthy('live', 10)).toMatchObject({ live: { status: 'down' } });
  });

  it('is down while the ping is unanswered, sends one ping at a time, and is up once the server answers', async () => {
    const transport = new PingableTransport();
    const indicator = indicatorFor(transport);
    // A frozen server: connected, never answering. Each check times out, down, without queuing another ping.
    for (let probe = 0; probe < 5; probe++) {
      expect(await indicator.isHealthy('live', 10)).toMatchObject({ live: { status: 'down' } });
    }
    expect(transport.pings).toHaveLength(1);
    transport.pings[0]!.answer();
    await tick();
    const next = Promise.resolve(indicator.isHealthy('live', 10_000));
    await tick();
    expect(transport.pings).toHaveLength(2);
    transport.pings[1]!.answer();
    expect(await next).toMatchObject({ live: { status: 'up' } });
    // A failed ping is down at once; a disconnected transport is down without a ping.
    const failed = Promise.resolve(indicator.isHealthy('live', 10_000));
    await tick();
    transport.pings[2]!.fail(new Error('connection reset'));
    expect(await failed).toMatchObject({ live: { status: 'down', message: expect.stringContaining('connection reset') } });
    transport.connected = false;
    expect(await indicator.isHealthy('live', 10_000)).toMatchObject({ live: { status: 'down' } });
    expect(transport.pings).toHaveLength(3);
  });
});
