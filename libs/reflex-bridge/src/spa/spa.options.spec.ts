import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { resolveOptions } from '../reflex-bridge.options.js';
import { fallbackExclusion, IMMUTABLE, NO_CACHE, serveStaticOptionsOf } from './spa-serve-static.options.js';
import { FILE_EXTENSION, type PathMatcher } from './reserved-paths.js';

const ROOT = '/srv/shop/web/dist';

/** `pattern.test(input)`, run in a worker thread that is ended, failing the test, if it has not answered within 30 s. */
async function matchInWorker(pattern: RegExp | PathMatcher, input: string): Promise<boolean> {
  const code = `const { parentPort, workerData } = require('node:worker_threads');
    parentPort.postMessage(workerData.patterns.some(({ source, flags }) => new RegExp(source, flags).test(workerData.input)));`;
  const patterns = (pattern instanceof RegExp ? [pattern] : pattern.patterns).map(({ source, flags }) => ({ source, flags }));
  const worker = new Worker(code, { eval: true, workerData: { patterns, input } });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      new Promise<boolean>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      }),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${pattern} did not answer within 30 s on ${input.length} characters`)), 30_000))),
    ]);
  } finally {
    clearTimeout(timer);
    await worker.terminate();
  }
}

describe('profile, spa and devServer options', () => {
  it('defaults to the integrated profile, serving nothing', () => {
    const options = resolveOptions();
    expect(options).toMatchObject({ profile: 'integrated', spa: undefined, devServer: undefined, bridge: { mode: 'full' } });
    expect(serveStaticOptionsOf(options)).toEqual([]);
  });

  it('fills the spa defaults', () => {
    expect(resolveOptions({ spa: { rootPath: ROOT } }).spa).toEqual({ rootPath: ROOT, base: '/', assetsPrefix: '/assets/', fallback: true, exclude: [], maxAgeSeconds: 300, idleTimeoutMs: 30_000 });
    expect(resolveOptions({ spa: false }).spa).toBeUndefined();
  });

  it('integrated and reflex_only serve the spa; explicit spa: false turns serving off in either', () => {
    for (const profile of ['integrated', 'reflex_only'] as const) {
      expect(resolveOptions({ profile, spa: { rootPath: ROOT } }).spa?.rootPath).toBe(ROOT);
      expect(resolveOptions({ profile, spa: false }).spa).toBeUndefined();
    }
  });

  it('reflex_only runs every event on tier none (bridge.mode none), and accepts an explicit mode none', () => {
    expect(resolveOptions({ profile: 'reflex_only' }).bridge.mode).toBe('none');
    expect(resolveOptions({ profile: 'reflex_only', bridge: { mode: 'none' } }).bridge.mode).toBe('none');
  });

  it('reflex_only runs none of the app pipeline: its middleware lists and fast auth are dropped (still validated)', () => {
    const middleware = () => undefined;
    const options = resolveOptions({ profile: 'reflex_only', bridge: { authMiddleware: [middleware], fullMiddleware: [middleware] }, fastAuth: { sessionSecret: 's', loadUser: () => undefined } });
    expect(options.bridge).toMatchObject({ authMiddleware: [], fullMiddleware: [] });
    expect(options.fastAuth).toBeUndefined();
    expect(() => resolveOptions({ profile: 'reflex_only', bridge: { authMiddleware: ['x' as never] } })).toThrow('invalid option "bridge.authMiddleware"');
    expect(resolveOptions({ bridge: { authMiddleware: [middleware] } }).bridge.authMiddleware).toEqual([middleware]);
  });

  it('reflex_only refuses what would ask for the pipeline, naming the conflict', () => {
    expect(() => resolveOptions({ profile: 'reflex_only', bridge: { mode: 'full' } })).toThrow(/invalid option "bridge.mode".*reflex_only.*"full"/);
    expect(() => resolveOptions({ profile: 'reflex_only', bridge: { mode: 'smart' } })).toThrow(/invalid option "bridge.mode".*reflex_only/);
    expect(() => resolveOptions({ profile: 'reflex_only', bridge: { resolver: () => 'full' } })).toThrow(/invalid option "bridge.resolver".*reflex_only/);
  });

  it('split_dev needs devServer.url, is refused in production, and conflicts with spa', () => {
    const dev = resolveOptions({ profile: 'split_dev', devServer: { url: 'http://localhost:5173/' } });
    expect(dev).toMatchObject({ profile: 'split_dev', spa: undefined, devServer: { url: 'http://localhost:5173', exclude: [], allowedHosts: [] } });
    expect(resolveOptions({ profile: 'split_dev', devServer: { url: 'http://localhost:5173', allowedHosts: ['Shop.Test', '.dev.example'] } }).devServer?.allowedHosts).toEqual(['shop.test', '.dev.example']);
    expect(() => resolveOptions({ profile: 'split_dev' })).toThrow(/invalid option "devServer.url".*split_dev/);
    expect(() => resolveOptions({ profile: 'split_dev', production: true, devServer: { url: 'http://localhost:5173' } })).toThrow(/invalid option "profile".*split_dev.*production: true/);
    expect(() => resolveOptions({ profile: 'split_dev', devServer: { url: 'http://localhost:5173' }, spa: { rootPath: ROOT } })).toThrow(/invalid option "spa".*split_dev/);
    // spa: false is not serving: no conflict.
    expect(resolveOptions({ profile: 'split_dev', devServer: { url: 'http://localhost:5173' }, spa: false }).spa).toBeUndefined();
  });

  it('refuses devServer outside split_dev', () => {
    expect(() => resolveOptions({ devServer: { url: 'http://localhost:5173' } })).toThrow(/invalid option "devServer".*"split_dev" only.*"integrated"/);
    expect(() => resolveOptions({ profile: 'reflex_only', devServer: { url: 'http://localhost:5173' } })).toThrow(/invalid option "devServer"/);
  });

  it('names the field of every invalid value', () => {
    expect(() => resolveOptions({ profile: 'dev' as never })).toThrow('invalid option "profile"');
    expect(() => resolveOptions({ spa: {} as never })).toThrow('invalid option "spa.rootPath"');
    expect(() => resolveOptions({ spa: { rootPath: 'web/dist' } })).toThrow('invalid option "spa.rootPath"');
    expect(() => resolveOptions({ spa: { rootPath: ROOT, base: 'app' } })).toThrow('invalid option "spa.base"');
    expect(() => resolveOptions({ spa: { rootPath: ROOT, base: '/app/' } })).toThrow('invalid option "spa.base"');
    expect(() => resolveOptions({ spa: { rootPath: ROOT, assetsPrefix: '/assets' } })).toThrow('invalid option "spa.assetsPrefix"');
    expect(() => resolveOptions({ spa: { rootPath: ROOT, fallback: 'yes' as never } })).toThrow('invalid option "spa.fallback"');
    // A segment starting with a dot is a dotfile to serve-static and never a page to the fallback: a base or an assets
    // folder there served every deep link or every bundle as a 404.
    for (const base of ['/.app', '/app/.x', '/..', '/app/.']) {
      expect(() => resolveOptions({ spa: { rootPath: ROOT, base } })).toThrow(/invalid option "spa.base".*starts with a dot/);
    }
    for (const assetsPrefix of ['/.vite/', '/static/.assets/', '/../']) {
      expect(() => resolveOptions({ spa: { rootPath: ROOT, assetsPrefix } })).toThrow(/invalid option "spa.assetsPrefix".*starts with a dot/);
    }
    expect(resolveOptions({ spa: { rootPath: ROOT, base: '/app.v2', assetsPrefix: '/_app/immutable.x/' } }).spa).toMatchObject({ base: '/app.v2', assetsPrefix: '/_app/immutable.x/' });
    expect(() => resolveOptions({ spa: { rootPath: ROOT, exclude: ['api'] } })).toThrow('invalid option "spa.exclude[0]"');
    expect(() => resolveOptions({ spa: { rootPath: ROOT, maxAgeSeconds: -1 } })).toThrow('invalid option "spa.maxAgeSeconds"');
    for (const idleTimeoutMs of [0, 1.5, -1, 2 ** 31, '1000', Number.NaN]) {
      expect(() => resolveOptions({ spa: { rootPath: ROOT, idleTimeoutMs: idleTimeoutMs as number } })).toThrow('invalid option "spa.idleTimeoutMs"');
    }
    expect(resolveOptions({ spa: { rootPath: ROOT, idleTimeoutMs: 5_000 } }).spa?.idleTimeoutMs).toBe(5_000);
    expect(() => resolveOptions({ spa: { rootPath: ROOT, index: 'x' } as never })).toThrow('invalid option "spa.index"');
    expect(() => resolveOptions({ profile: 'split_dev', devServer: { url: 'localhost:5173' } })).toThrow('invalid option "devServer.url"');
    expect(() => resolveOptions({ profile: 'split_dev', devServer: { url: 'ftp://x' } })).toThrow('invalid option "devServer.url"');
    expect(() => resolveOptions({ profile: 'split_dev', devServer: { url: 'http://localhost:5173', allowedHosts: ['*'] } })).toThrow('invalid option "devServer.allowedHosts"');
    expect(() => resolveOptions({ profile: 'split_dev', devServer: { url: 'http://localhost:5173', allowedHosts: 'shop.test' as never } })).toThrow('invalid option "devServer.allowedHosts"');
  });
});

describe('what the fallback leaves alone', () => {
  const exclusion = (extra = {}) => fallbackExclusion(resolveOptions({ spa: { rootPath: ROOT, exclude: ['/api', /^\/reports\/\d+$/] }, devtools: true, ...extra }));

  it('leaves the module routes, the app exclude list and file paths; takes deep links', () => {
    const rule = exclusion();
    for (const path of ['/_event', '/_event/', '/_upload', '/_upload/a/b.png', '/_bridge/devtools', '/_bridge/session-cookie', '/ping', '/_health', '/api', '/api/x', '/reports/3', '/assets/x.js', '/favicon.ico', '/product/3.json', '/.git/config', '/.well-known/x', '/cart/.svn/entries', '/%2e%2e/x', '/%2E/cart']) {
      expect([path, rule.test(path)]).toEqual([path, true]);
    }
    for (const path of ['/', '/cart', '/product/3', '/apiary', '/reports/latest', '/pinged', '/_eventful', '/cart/x.y/z', '/cart/a%2e']) {
      expect([path, rule.test(path)]).toEqual([path, false]);
    }
  });

  it('leaves a file path with a trailing slash and the assets folder itself, and keeps deep links with one', () => {
    // `/assets/app-x.js/` and `/assets/` got index.html with 200: a browser loading a bundle so spelt ran HTML as script.
    const rule = exclusion();
    for (const path of ['/assets/app-x.js/', '/assets/app-x.js//', '/favicon.ico/', '/assets/', '/assets', '/assets/x', '/assets/sub/dir/']) {
      expect([path, rule.test(path)]).toEqual([path, true]);
    }
    for (const path of ['/product/42/', '/cart/', '/assetsy', '/assets-old/', '/ASSETS-x/', '/cart/assets/']) expect([path, rule.test(path)]).toEqual([path, false]);
    // Under a base and a moved assets folder: the folder is the base's.
    const based = exclusion({ spa: { rootPath: ROOT, base: '/app', assetsPrefix: '/static/' } });
    for (const path of ['/app/static/', '/app/static', '/app/static/x.js/']) expect([path, based.test(path)]).toEqual([path, true]);
    for (const path of ['/app/assets/', '/static/', '/app/cart/']) expect([path, based.test(path)]).toEqual([path, false]);
  });

  it("leaves the module's routes in any letter case, as Express routes them", () => {
    // Express matches routes case-insensitively: /_BRIDGE/devtools is the devtools page, /_HEALTH the health route.
    const rule = exclusion();
    for (const path of ['/_BRIDGE/nothing-here', '/_Bridge/Devtools', '/_HEALTH', '/PING', '/_UPLOAD', '/_Upload/a/b', '/_EVENT/']) {
      expect([path, rule.test(path)]).toEqual([path, true]);
    }
    for (const path of ['/CART', '/_EVENTFUL', '/Pinged']) expect([path, rule.test(path)]).toEqual([path, false]);
  });

  it("leaves the app's exclude prefixes in any letter case too, and keeps its RegExps' flags", () => {
    // Express routes /API/x to the app's /api controller, so /API/missing must get the app's 404, not the page.
    const rule = fallbackExclusion(resolveOptions({ spa: { rootPath: ROOT, exclude: ['/api', '/v1.0/docs', /^\/Reports\/\d+$/i, /^\/stats/g] } }));
    for (const path of ['/API', '/Api/missing', '/V1.0/DOCS/x', '/reports/3', '/REPORTS/3']) expect([path, rule.test(path)]).toEqual([path, true]);
    for (const path of ['/APIARY', '/v1x0/docs', '/Reports/latest']) expect([path, rule.test(path)]).toEqual([path, false]);
    // A global RegExp keeps no lastIndex between tests: the same path is left alone every time.
    for (let i = 0; i < 3; i += 1) expect(rule.test('/stats')).toBe(true);
  });

  it('tells a file path by its last segment, as a reference reading of the path does, in time linear in the path', async () => {
    // The last segment that is not empty: `/assets/app.js/` names a file as `/assets/app.js` does.
    const lastSegmentHasDot = (path: string) => {
      // Not `replace(/\/+$/, '')`, whose time is quadratic in a run of slashes not at the end.
      let end = path.length;
      while (end > 0 && path[end - 1] === '/') end--;
      const trimmed = path.slice(0, end);
      return trimmed.slice(trimmed.lastIndexOf('/') + 1).includes('.');
    };
    const pathPart = fc.string({ unit: fc.constantFrom('/', '.', 'a', '-', '%'), maxLength: 40 });
    fc.assert(fc.property(pathPart, (tail) => expect(FILE_EXTENSION.test(`/${tail}`)).toBe(lastSegmentHasDot(`/${tail}`))));
    // Paths whose runs of dots made the old pattern's time quadratic: a million characters took it hours, these
    // milliseconds. Matched in a worker thread, so that a pattern that backtracks fails at the deadline instead of
    // holding the test run (the deadline bounds a failure; it is no measure of speed).
    for (const path of [`/${'.'.repeat(1_000_000)}/`, `/${'a.'.repeat(500_000)}/`, `/${'./'.repeat(500_000)}a`, `/a.${'/'.repeat(1_000_000)}x`, `/${'a./'.repeat(300_000)}x`]) {
      await expect(matchInWorker(FILE_EXTENSION, path)).resolves.toBe(lastSegmentHasDot(path));
      // A dot segment (`/.`) is left alone too.
      await expect(matchInWorker(exclusion(), path)).resolves.toBe(lastSegmentHasDot(path) || path.includes('/.'));
    }
  }, 240_000);

  it('follows the event path prefix and moved routes', () => {
    const rule = exclusion({ path: '/api/_event', reflexRoutes: { health: '/healthz' }, spa: { rootPath: ROOT } });
    for (const path of ['/api/_event/', '/api/_upload', '/api/ping', '/healthz']) expect([path, rule.test(path)]).toEqual([path, true]);
    for (const path of ['/ping', '/_upload', '/cart']) expect([path, rule.test(path)]).toEqual([path, false]);
  });
});

describe('serve-static options', () => {
  const headerFor = (path: string, spa = {}) => {
    const [options] = serveStaticOptionsOf(resolveOptions({ spa: { rootPath: ROOT, ...spa } }));
    const headers: Record<string, string> = {};
    options!.serveStaticOptions!.setHeaders!({ setHeader: (name: string, value: string) => (headers[name] = value) }, path, { size: 0, ino: 0, mtimeMs: 0, ctimeMs: 0 });
    return headers['Cache-Control'];
  };

  it('caches hashed assets for a year, HTML never without revalidation, other files briefly', () => {
    expect(headerFor(`${ROOT}/assets/app-3f2a1c.js`)).toBe(IMMUTABLE);
    expect(headerFor(`${ROOT}/index.html`)).toBe(NO_CACHE);
    expect(headerFor(`${ROOT}/favicon.ico`)).toBe('public, max-age=300');
    expect(headerFor(`${ROOT}/favicon.ico`, { maxAgeSeconds: 60 })).toBe('public, max-age=60');
    // A folder merely starting like the assets folder is not it.
    expect(headerFor(`${ROOT}/assets-old/x.js`)).toBe('public, max-age=300');
    expect(headerFor(`${ROOT}/static/x.js`, { assetsPrefix: '/static/' })).toBe(IMMUTABLE);
  });

  it('mounts under the base and turns the fallback off by excluding everything', () => {
    const [based] = serveStaticOptionsOf(resolveOptions({ spa: { rootPath: ROOT, base: '/app' } }));
    expect(based).toMatchObject({ rootPath: ROOT, serveRoot: '/app', renderPath: '{*any}' });
    const [off] = serveStaticOptionsOf(resolveOptions({ spa: { rootPath: ROOT, fallback: false } }));
    expect((off!.exclude as RegExp).test('/cart')).toBe(true);
  });
});
