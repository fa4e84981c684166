import { describe, expect, it } from '@jest/globals';
import { InvalidOptionError } from '../invalid-option.error.js';
import { DEFAULT_LIVE_OPTIONS, resolveLiveOptions } from './live.options.js';
import { InProcessTransport } from './transports/in-process.transport.js';

describe('resolveLiveOptions', () => {
  it('merges the defaults', () => {
    expect(resolveLiveOptions()).toEqual({ transport: undefined, ...DEFAULT_LIVE_OPTIONS });
    const transport = new InProcessTransport();
    expect(resolveLiveOptions({ transport, bufferSize: 10 })).toEqual({ transport, bufferSize: 10, echoTimeoutMs: 5000, resyncSettleMs: 2000 });
  });

  it.each([
    [{ bufferSize: 0 }, 'live.bufferSize'],
    [{ bufferSize: 1.5 }, 'live.bufferSize'],
    [{ echoTimeoutMs: -1 }, 'live.echoTimeoutMs'],
    [{ resyncSettleMs: 0 }, 'live.resyncSettleMs'],
    [{ transport: { publish() {} } }, 'live.transport'],
    [{ bufer: 1 }, 'live.bufer'],
  ])('fails on %j naming %s', (options, field) => {
    expect(() => resolveLiveOptions(options as never)).toThrow(InvalidOptionError);
    expect(() => resolveLiveOptions(options as never)).toThrow(`"${field}"`);
  });
});
