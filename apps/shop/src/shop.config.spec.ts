import { describe, expect, it } from '@jest/globals';
import { readShopConfig } from './shop.config.js';

describe('readShopConfig', () => {
  const SECRET = 'x'.repeat(32);

  it('refuses production without a session secret of at least 32 characters: the default one is public', () => {
    expect(() => readShopConfig({ NODE_ENV: 'production' })).toThrow(/SESSION_SECRET of at least 32 characters/);
    expect(() => readShopConfig({ NODE_ENV: 'production', SESSION_SECRET: 'x' })).toThrow(/SESSION_SECRET/);
    expect(readShopConfig({ NODE_ENV: 'production', SESSION_SECRET: SECRET }).sessionSecret).toBe(SECRET);
    expect(readShopConfig({}).sessionSecret).toBe('shop-dev-secret-change-me');
  });

  it('seeds the demo accounts outside production, and in production only when asked', () => {
    expect(readShopConfig({}).demoUsers).toBe(true);
    expect(readShopConfig({ NODE_ENV: 'production', SESSION_SECRET: SECRET }).demoUsers).toBe(false);
    expect(readShopConfig({ NODE_ENV: 'production', SESSION_SECRET: SECRET, DEMO_USERS: '1' }).demoUsers).toBe(true);
  });

  it('reads PORT as a port number, refusing anything else instead of listening where nobody looks', () => {
    // PORT= (empty) was port 0: a random port, announced as "listening on http://localhost:0"; PORT=80a was NaN.
    expect(readShopConfig({}).port).toBe(3000);
    expect(readShopConfig({ PORT: '' }).port).toBe(3000);
    expect(readShopConfig({ PORT: '8080' }).port).toBe(8080);
    for (const port of ['80a', ' ', '0x50', '1e3', '-1', '65536', '3000.5']) expect(() => readShopConfig({ PORT: port })).toThrow(/PORT must be/);
  });

  it('reads WORKERS as a count of processes, refusing anything else instead of running one or forking thousands', () => {
    // WORKERS=four (or 4x) was NaN: one process and no word of it; WORKERS=100000 forked that many processes.
    expect(readShopConfig({}).workers).toBe(1);
    expect(readShopConfig({ WORKERS: '' }).workers).toBe(1);
    expect(readShopConfig({ WORKERS: '4' }).workers).toBe(4);
    for (const workers of ['four', '4x', '0', '-2', '2.5', '1e2', '100000']) expect(() => readShopConfig({ WORKERS: workers })).toThrow(/WORKERS must be/);
  });

  it('listens on every interface unless HOST names one, and on loopback with the devtools on', () => {
    expect(readShopConfig({}).host).toBeUndefined();
    expect(readShopConfig({ HOST: '127.0.0.1' }).host).toBe('127.0.0.1');
    // The devtools show every tab's token and state to whoever reaches the port by IP address.
    expect(readShopConfig({ DEVTOOLS: '1' }).host).toBe('127.0.0.1');
    expect(readShopConfig({ DEVTOOLS: '1', HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(readShopConfig({ DEVTOOLS: '1', NODE_ENV: 'production', SESSION_SECRET: 'x'.repeat(48) }).host).toBeUndefined();
  });
});
