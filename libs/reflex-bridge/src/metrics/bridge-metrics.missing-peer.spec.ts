import { expect, it, jest } from '@jest/globals';
import { resolveOptions } from '../reflex-bridge.options.js';

// The optional peer is not installed: importing it fails as Node's resolver does.
jest.unstable_mockModule('prom-client', () => {
  throw Object.assign(new Error("Cannot find package 'prom-client'"), { code: 'ERR_MODULE_NOT_FOUND' });
});
const { BridgeMetrics } = await import('./bridge-metrics.service.js');

it('names the missing prom-client package and how to install it when metrics.registry is set', async () => {
  const registry = { registerMetric: () => undefined };
  const metrics = new BridgeMetrics(resolveOptions({ metrics: { registry: registry as never } }));
  await expect(metrics.onModuleInit()).rejects.toThrow('metrics.registry needs the "prom-client" package (15.x): npm install prom-client');
});
