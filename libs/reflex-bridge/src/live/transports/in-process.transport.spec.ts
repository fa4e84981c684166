import { describe, expect, it } from '@jest/globals';
import { describeLiveTransportContract } from '@reflex-bridge/nest/testing';
import { ModelChange } from '../model-change.js';
import { InProcessTransport } from './in-process.transport.js';

describeLiveTransportContract('InProcessTransport', (channel) => new InProcessTransport({ channel }));

describe('InProcessTransport', () => {
  it('keeps transports without a shared channel name apart', async () => {
    const a = new InProcessTransport();
    const b = new InProcessTransport();
    const seen: ModelChange[] = [];
    await a.start((change) => seen.push(change));
    await b.start((change) => seen.push(change));
    await a.publish(new ModelChange('shop.product', 'created', 1));
    expect(seen).toHaveLength(1);
    expect(a.channel).not.toBe(b.channel);
    await Promise.all([a.close(), b.close()]);
  });

  it('has delivered the change everywhere when publish() resolves', async () => {
    const a = new InProcessTransport({ channel: 'sync' });
    const b = new InProcessTransport({ channel: 'sync' });
    let delivered = 0;
    await a.start(() => delivered++);
    await b.start(() => delivered++);
    await a.publish(new ModelChange('shop.product', 'created', 1));
    expect(delivered).toBe(2);
    await Promise.all([a.close(), b.close()]);
  });

  it('refuses a second start()', async () => {
    const a = new InProcessTransport();
    await a.start(() => undefined);
    await expect(a.start(() => undefined)).rejects.toThrow(/already/);
    await a.close();
  });

  it('refuses an option it does not know, naming it: a misspelt one was ignored and its default used', () => {
    expect(() => new InProcessTransport({ chanel: 'a' } as never)).toThrow('InProcessTransport: unknown option "chanel" (it takes "channel")');
    expect(new InProcessTransport({ channel: 'a' }).channel).toBe('a');
  });
});
