import { describe, expect, it } from '@jest/globals';
import { resolveOptions, type ReflexBridgeModuleOptions } from '../reflex-bridge.options.js';

const registry = { registerMetric: () => undefined };
const spa = (base: string) => ({ rootPath: '/srv/web/dist', base });

/** The message resolveOptions fails with for `options`, or undefined when it starts. */
function refusal(options: ReflexBridgeModuleOptions): string | undefined {
  try {
    resolveOptions(options);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('module routes that would answer the same requests', () => {
  it.each<[string, ReflexBridgeModuleOptions, string, string]>([
    ['metrics on the health path', { metrics: { registry, path: '/_health' } }, 'metrics.path', 'reflexRoutes.health'],
    ['metrics on the ping path, in another letter case and with a trailing slash', { metrics: { registry, path: '/PING/' } }, 'metrics.path', 'reflexRoutes.ping'],
    ['metrics under the devtools', { devtools: true, metrics: { registry, path: '/_bridge/devtools/events' } }, 'metrics.path', 'devtools.path'],
    ['metrics under the uploads', { metrics: { registry, path: '/_upload/metrics' } }, 'metrics.path', 'uploads'],
    ['metrics under the event path, which Engine.IO answers', { metrics: { registry, path: '/_event/metrics' } }, 'metrics.path', 'path'],
    ['the devtools on the ping path', { devtools: { path: '/ping' } }, 'devtools.path', 'reflexRoutes.ping'],
    ['the devtools over the cookie handoff', { devtools: { path: '/_bridge/session-cookie' } }, 'devtools.path', 'cookieHandoffPath'],
    ['health under the devtools', { devtools: true, reflexRoutes: { health: '/_bridge/devtools/health' } }, 'devtools.path', 'reflexRoutes.health'],
    ['the SPA under the devtools', { devtools: true, spa: spa('/_bridge/devtools/app') }, 'spa.base', 'devtools.path'],
    ['the SPA on the metrics path', { metrics: { registry, path: '/app' }, spa: spa('/app') }, 'spa.base', 'metrics.path'],
    ['the SPA under /_bridge, which the module keeps for itself', { spa: spa('/_bridge/app') }, 'spa.base', '/_bridge'],
    ['the SPA at the root and metrics on it', { metrics: { registry, path: '/' }, spa: spa('/') }, 'spa.base', 'metrics.path'],
  ])('refuses %s at start-up, naming both options', (_case, options, invalid, other) => {
    // Before: the module started, and whichever route was registered first answered both.
    const message = refusal(options);
    expect(message).toContain(`invalid option "${invalid}`);
    expect(message).toContain(other);
  });

  it.each<[string, ReflexBridgeModuleOptions]>([
    ['the defaults', {}],
    ['everything on', { devtools: true, metrics: { registry, path: '/metrics' }, spa: spa('/') }],
    ['routes beside each other', { devtools: { path: '/_bridge/devtools' }, metrics: { registry, path: '/_bridge/metrics' }, reflexRoutes: { health: '/_bridge/health' } }],
    ['a path that only starts like another', { metrics: { registry, path: '/_uploads-metrics' }, spa: spa('/pingpong') }],
    ['the SPA beside the module, its routes under it', { path: '/app/_event', spa: spa('/app') }],
    ['uploads off', { uploads: false, metrics: { registry, path: '/_upload/metrics' } }],
  ])('starts with %s', (_case, options) => {
    expect(refusal(options)).toBeUndefined();
  });

  it.each<[string, ReflexBridgeModuleOptions, string]>([
    ['metrics behind a dot-dot segment, which clients resolve to the health path', { metrics: { registry, path: '/a/../_health' } }, 'metrics.path'],
    ['metrics on a path ending in a dot-dot segment', { metrics: { registry, path: '/metrics/..' } }, 'metrics.path'],
    ['metrics behind a dot segment', { metrics: { registry, path: '/./metrics' } }, 'metrics.path'],
    ['metrics behind an empty segment, which nginx merges into the health path', { metrics: { registry, path: '//_health' } }, 'metrics.path'],
    ['metrics with an empty segment inside', { metrics: { registry, path: '/a//metrics' } }, 'metrics.path'],
    ['the devtools with an empty segment', { devtools: { path: '/_bridge//devtools' } }, 'devtools.path'],
    ['the health route with an empty segment', { reflexRoutes: { health: '//_health' } }, 'reflexRoutes.health'],
    ['the cookie handoff with an empty segment', { cookieHandoffPath: '/_bridge//session-cookie' }, 'cookieHandoffPath'],
    ['the SPA behind a dot-dot segment', { spa: spa('/app/..') }, 'spa.base'],
  ])('refuses %s at start-up', (_case, options, invalid) => {
    // Before: the module started, its route never reached by a client (which resolves the path before sending it),
    // and `/a/../_health` was not seen to collide with the health route.
    const message = refusal(options);
    expect(message).toContain(`invalid option "${invalid}`);
  });

  it.each<[string, ReflexBridgeModuleOptions]>([
    ['metrics with a trailing slash', { metrics: { registry, path: '/metrics/' } }],
    ['metrics with dots inside a segment', { metrics: { registry, path: '/v1.0/metrics..txt' } }],
    ['the SPA at the root', { spa: spa('/') }],
  ])('still starts with %s', (_case, options) => {
    expect(refusal(options)).toBeUndefined();
  });
});
