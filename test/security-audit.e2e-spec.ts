/**
 * The security review at startup: each mistake is made in a real Nest app (real express-session, real CORS
 * middleware, real HTTP server and WebSocket upgrades, real Redis for the shared-store case), and the audit must
 * name exactly that finding, in `BridgeSecurityAudit.findings()` and as one warning per finding in the log. A clean
 * production configuration has none; `audit: 'strict'` refuses to start.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import session from 'express-session';
import passport from 'passport';
import { connect as connectTcp } from 'node:net';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import WebSocket from 'ws';
import {
  BridgeSecurityAudit,
  ReflexBridgeModule,
  RequestTargetMiddleware,
  SecurityAuditError,
  type ReflexBridgeModuleOptions,
  type SecurityFindingCode,
} from '@reflex-bridge/nest';
import { PingState } from './fixtures/ping.state.js';
import { CapturingLogger, startApp, type RunningApp } from './support/app.js';
import { describeWithRedis, RedisTestServer } from './support/redis-server.js';

/** A secret the audit must accept: 48 random bytes. */
const STRONG_SECRET = randomBytes(48).toString('base64');

interface SessionSetup {
  secret?: string;
  cookie?: session.CookieOptions;
  store?: session.Store;
}

/** express-session as a careful production app configures it, with `setup` applied on top. */
function sessionMiddleware(setup: SessionSetup = {}) {
  return session({
    name: 'audit.sid',
    // `secret: undefined` given on purpose stays undefined (an unset environment variable).
    secret: ('secret' in setup ? setup.secret : STRONG_SECRET) as string,
    resave: false,
    saveUninitialized: false,
    store: setup.store,
    cookie: { httpOnly: true, sameSite: 'lax', secure: true, ...setup.cookie },
  });
}

interface Audited {
  running: RunningApp;
  logger: CapturingLogger;
  codes(): SecurityFindingCode[];
  warnings(): string[];
}

const running: RunningApp[] = [];

/**
 * Starts an app on production defaults with a clean session middleware as `bridge.authMiddleware`, then `options`
 * on top (`session` replaces the middleware; `null` leaves the bridge without one); `configure` runs before listen.
 */
async function startAudited(
  options: ReflexBridgeModuleOptions & { session?: SessionSetup | null } = {},
  configure?: (app: INestApplication) => void,
): Promise<Audited> {
  const { session: sessionSetup, bridge, ...rest } = options;
  const authMiddleware = sessionSetup === null ? [] : [sessionMiddleware(sessionSetup)];
  const logger = new CapturingLogger();
  const app = await startApp(
    { imports: [ReflexBridgeModule.forRoot({ production: true, ...rest, bridge: { authMiddleware, ...bridge } })], providers: [PingState] },
    configure,
    logger,
  );
  running.push(app);
  const audit = app.app.get(BridgeSecurityAudit);
  return {
    running: app,
    logger,
    codes: () => audit.findings().map((finding) => finding.code).sort(),
    warnings: () => logger.lines.filter((line) => line.level === 'warn' && line.context === 'ReflexBridgeAudit').map((line) => line.message),
  };
}

/** Polls `predicate` until it holds, failing after a generous deadline (the machine may be loaded). */
async function waitFor(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A raw WebSocket upgrade of the event channel with these headers; resolves once the server answered it either way. */
function handshake(baseUrl: string, headers: Record<string, string>): Promise<void> {
  const url = `${baseUrl.replace(/^http/, 'ws')}/_event/?EIO=4&transport=websocket&token=${randomUUID()}`;
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers });
    socket.once('message', () => {
      socket.close();
      resolve();
    });
    socket.once('unexpected-response', () => resolve());
    socket.once('error', () => resolve());
  });
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => app.close()));
});

describe('the security audit at startup', () => {
  it('finds nothing in a clean production configuration, and says so once', async () => {
    const audited = await startAudited({}, (app) => app.enableCors({ origin: ['https://app.example.com'], credentials: true }));
    expect(audited.codes()).toEqual([]);
    expect(audited.warnings()).toEqual([]);
    expect(audited.logger.lines.filter((line) => line.context === 'ReflexBridgeAudit').map((line) => line.message)).toEqual(['Security audit: no findings']);
  });

  // Each row: one mistake, and exactly the findings it must produce (no more: a clean base config has none).
  const mistakes: Array<[string, ReflexBridgeModuleOptions & { session?: SessionSetup | null }, SecurityFindingCode[], ((app: INestApplication) => void)?]> = [
    ['a session cookie without Secure', { session: { cookie: { secure: false } } }, ['session_cookie_not_secure']],
    ['a session cookie without HttpOnly', { session: { cookie: { httpOnly: false } } }, ['session_cookie_not_httponly']],
    ['SameSite=None with no frontend on another origin', { session: { cookie: { sameSite: 'none' } } }, ['session_cookie_samesite_none']],
    ['SameSite=None without Secure', { session: { cookie: { sameSite: 'none', secure: false } } }, ['session_cookie_not_secure', 'session_cookie_samesite_none']],
    ["express-session's example secret", { session: { secret: 'keyboard cat' } }, ['session_secret_default']],
    ['a default secret in a list of secrets', { session: { secret: [STRONG_SECRET, 'changeme'] as unknown as string } }, ['session_secret_default']],
    [
      'a short secret, declared through fastAuth',
      { session: { secret: 'x7Gq-2Lp' }, fastAuth: { sessionSecret: 'x7Gq-2Lp', sessionCookieName: 'audit.sid', loadUser: () => undefined } },
      ['session_secret_weak'],
    ],
    [
      'a repetitive secret, declared through fastAuth',
      { session: { secret: 'abcabcabcabcabcabcabcabcabcabcabcabcabc' }, fastAuth: { sessionSecret: 'abcabcabcabcabcabcabcabcabcabcabcabcabc', sessionCookieName: 'audit.sid', loadUser: () => undefined } },
      ['session_secret_weak'],
    ],
    ['several workers on in-memory stores and no redisUrl', { workers: 3 }, ['session_store_in_memory', 'state_store_in_memory', 'workers_without_redis']],
    ['corsOrigins: true', { corsOrigins: true }, ['origin_allowlist_off']],
    ['app CORS reflecting any origin with credentials', {}, ['http_cors_any_origin'], (app) => app.enableCors({ origin: true, credentials: true })],
    ["app CORS '*' with credentials", {}, ['http_cors_any_origin'], (app) => app.enableCors({ origin: '*', credentials: true })],
    ['fast auth trusting its snapshots for five minutes', { fastAuth: { sessionSecret: STRONG_SECRET, sessionCookieName: 'audit.sid', loadUser: () => undefined }, eventCache: { ttlSeconds: 300 } }, ['fast_auth_ttl_long']],
    ['error messages sent to clients (production: false, audited)', { production: false, audit: 'warn' }, ['error_detail_exposed']],
    ['devtools on (only possible without production)', { production: false, audit: 'warn', devtools: true }, ['devtools_enabled', 'error_detail_exposed']],
    ['a 5 MB socket frame limit', { maxMessageBytes: 5_000_000 }, ['max_message_bytes_high']],
  ];

  it.each(mistakes.map(([name, options, expected, configure]) => ({ name, options, expected, configure })))('names $name', async ({ options, expected, configure }) => {
    const audited = await startAudited(options, configure);
    expect(audited.codes()).toEqual([...expected].sort());
    // One warning per finding, each with its code, why it matters and the fix.
    const warnings = audited.warnings();
    expect(warnings).toHaveLength(expected.length);
    for (const code of expected) {
      const line = warnings.find((warning) => warning.startsWith(`[${code}] `));
      expect(line).toMatch(/\. Why: .+\. Fix: .+/);
    }
  });

  it('names a fastAuth secret that the session middleware does not accept (retired from one, not the other)', async () => {
    const retired = randomBytes(48).toString('base64');
    const fastAuth = { sessionSecret: [STRONG_SECRET, retired], sessionCookieName: 'audit.sid', loadUser: () => undefined };
    const audited = await startAudited({ fastAuth });
    expect(audited.codes()).toEqual(['fast_auth_secret_not_accepted']);
    const line = audited.warnings().find((warning) => warning.startsWith('[fast_auth_secret_not_accepted] '));
    expect(line).toContain('fastAuth.sessionSecret[1] (of 2)');
    expect(line).not.toContain(retired);
    const same = await startAudited({ fastAuth: { ...fastAuth, sessionSecret: STRONG_SECRET } });
    expect(same.codes()).toEqual([]);
  });

  it('names a session middleware without a secret (SESSION_SECRET unset), which fails every request, instead of "no findings"', async () => {
    // What `session({ secret: process.env.SESSION_SECRET })` builds when the variable is missing: express-session
    // starts, then fails each request ("secret option required for sessions"), so every page and socket is refused.
    const unset = process.env[`AUDIT_UNSET_${randomUUID().replace(/-/g, '')}`];
    const audited = await startAudited({ session: { secret: unset as string } });
    expect(audited.codes()).toEqual(['session_middleware_fails']);
    expect(audited.warnings()).toEqual([expect.stringMatching(/^\[session_middleware_fails\] .*secret option required for sessions.*Fix: .*secret/)]);
    expect(audited.logger.lines.some((line) => line.message === 'Security audit: no findings')).toBe(false);
    // The same middleware wrapped in a function of the app, reached through the bridge chain.
    const bare = session({ secret: unset as string, resave: false, saveUninitialized: false });
    const wrapped = await startAudited({ session: null, bridge: { authMiddleware: [(req, res, next) => bare(req, res, next)] } });
    expect(wrapped.codes()).toEqual(['session_middleware_fails']);
    // A chain of the app's own that refuses an anonymous request for another reason is not this finding.
    const refusing = await startAudited({ session: null, bridge: { authMiddleware: [(_req, _res, next) => next(new Error('no token'))] } });
    expect(refusing.codes()).toEqual([]);
  });

  it("names passport mounted with app.use without RequestTargetMiddleware before it (OPTIONS * made it throw: a 500 and a logged stack each)", async () => {
    const chain = () => [sessionMiddleware({}), passport.initialize(), passport.session()];
    const unguarded = await startAudited({}, (app) => app.use(...chain()));
    // What the finding is about: the request for * reaches passport without a session.
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connectTcp(Number(new URL(unguarded.running.url).port), '127.0.0.1');
      let answer = '';
      socket.on('data', (data: Buffer) => (answer += data.toString('latin1')));
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
      socket.write('OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    });
    expect(raw).toMatch(/^HTTP\/1\.1 500 /);
    expect(unguarded.codes()).toEqual(['request_target_unguarded']);
    expect(unguarded.warnings()).toEqual([expect.stringMatching(/^\[request_target_unguarded\] .*Fix: .*RequestTargetMiddleware/)]);
    const guarded = await startAudited({}, (app) => {
      app.use(app.get(RequestTargetMiddleware).use);
      app.use(...chain());
    });
    expect(guarded.codes()).toEqual([]);
  });

  it("names Express's trust proxy: true, under which every client picks its own req.ip (HTTP limits per address count nothing)", async () => {
    const audited = await startAudited({ bridge: { trustProxy: true } }, (app) => {
      const express = app.getHttpAdapter().getInstance() as { set(name: string, value: unknown): void; get(path: string, handler: (req: { ip?: string }, res: { json(body: unknown): void }) => void): void };
      express.set('trust proxy', true);
      express.get('/whoami', (req, res) => res.json({ ip: req.ip }));
    });
    // What the finding is about: the client's own leftmost X-Forwarded-For entry becomes its address.
    const whoami = await fetch(`${audited.running.url}/whoami`, { headers: { 'x-forwarded-for': '198.51.100.77, 127.0.0.1' } });
    expect(await whoami.json()).toEqual({ ip: '198.51.100.77' });
    expect(audited.codes()).toEqual(['express_trust_proxy_any']);
    expect(audited.warnings()).toEqual([expect.stringMatching(/^\[express_trust_proxy_any\] .*Fix: .*'trust proxy', 1/)]);
    const oneHop = await startAudited({ bridge: { trustProxy: true } }, (app) => (app.getHttpAdapter().getInstance() as { set(name: string, value: unknown): void }).set('trust proxy', 1));
    expect(oneHop.codes()).toEqual([]);
  });

  it('reads a session middleware the app mounted itself (app.use), with any cookie name', async () => {
    const audited = await startAudited({ session: null }, (app) => app.use(session({ name: 'custom', secret: 'secret', resave: false, saveUninitialized: false, cookie: { secure: true, httpOnly: true, sameSite: 'strict' } })));
    expect(audited.codes()).toEqual(['session_secret_default']);
  });

  it('reads a session middleware wrapped in a function of the app, through the bridge chain', async () => {
    const wrapped = sessionMiddleware({ secret: 'keyboard cat', cookie: { httpOnly: false } });
    const audited = await startAudited({ session: null, bridge: { authMiddleware: [(req, res, next) => wrapped(req, res, next)] } });
    expect(audited.codes()).toEqual(['session_cookie_not_httponly', 'session_secret_default']);
  });

  it('accepts SameSite=None with Secure when a frontend on another origin is listed', async () => {
    const audited = await startAudited({ session: { cookie: { sameSite: 'none' } }, corsOrigins: ['https://frontend.example.net'] });
    expect(audited.codes()).toEqual([]);
  });

  it('keeps devtools refused with production: true, before the audit runs', async () => {
    await expect(Test.createTestingModule({ imports: [ReflexBridgeModule.forRoot({ production: true, devtools: true })], providers: [PingState] }).compile()).rejects.toThrow(
      /invalid option "devtools".*refused with production: true/,
    );
  });

  it('is off by default without production, and with audit: off', async () => {
    for (const options of [{ production: false }, { audit: 'off' as const }]) {
      const audited = await startAudited({ ...options, maxMessageBytes: 5_000_000, session: { cookie: { secure: false } } });
      expect(audited.codes()).toEqual([]);
      expect(audited.logger.lines.filter((line) => line.context === 'ReflexBridgeAudit')).toEqual([]);
    }
  });

  it("refuses to start with audit: 'strict', listing every finding", async () => {
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [ReflexBridgeModule.forRoot({ production: true, audit: 'strict', maxMessageBytes: 5_000_000, bridge: { authMiddleware: [sessionMiddleware({ cookie: { secure: false } })] } })],
      providers: [PingState],
    }).compile();
    const app = moduleRef.createNestApplication({ logger });
    try {
      const failure = await app.listen(0, '127.0.0.1').then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(SecurityAuditError);
      expect((failure as SecurityAuditError).findings.map((finding) => finding.code).sort()).toEqual(['max_message_bytes_high', 'session_cookie_not_secure']);
      expect((failure as Error).message).toMatch(/refuses to start with 2 findings:\n- \[session_cookie_not_secure\] .*Fix: .*\n- \[max_message_bytes_high\] /s);
    } finally {
      await app.close();
    }
  });

  it("starts with audit: 'strict' when there is nothing to find", async () => {
    const audited = await startAudited({ audit: 'strict' });
    expect(audited.codes()).toEqual([]);
  });
});

describe('the security audit in traffic: a proxy the bridge does not trust', () => {
  it('names X-Forwarded-For on an HTTP request once, when first seen', async () => {
    const audited = await startAudited();
    expect(audited.codes()).toEqual([]);
    const ping = await fetch(`${audited.running.url}/ping`);
    expect(ping.status).toBe(200);
    expect(audited.codes()).toEqual([]);
    for (let i = 0; i < 3; i++) await fetch(`${audited.running.url}/ping`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    await waitFor(() => audited.codes().includes('trust_proxy_unset'), 'the trust_proxy_unset finding');
    expect(audited.codes()).toEqual(['trust_proxy_unset']);
    expect(audited.warnings()).toEqual([expect.stringMatching(/^\[trust_proxy_unset\] A request arrived with X-Forwarded-For .*Fix: .*bridge\.trustProxy/)]);
    const finding = audited.running.app.get(BridgeSecurityAudit).findings()[0];
    expect(finding.seen).toBe('traffic');
  });

  it('names X-Forwarded-For on a WebSocket handshake of the event channel', async () => {
    const audited = await startAudited();
    await handshake(audited.running.url, { 'x-forwarded-for': '203.0.113.9' });
    await waitFor(() => audited.codes().includes('trust_proxy_unset'), 'the trust_proxy_unset finding');
    expect(audited.warnings()).toEqual([expect.stringMatching(/^\[trust_proxy_unset\] A WebSocket handshake arrived with X-Forwarded-For/)]);
  });

  it('names an event connection that bypassed the proxy (no X-Forwarded-For) while bridge.trustProxy is set, not a health check', async () => {
    const audited = await startAudited({ bridge: { trustProxy: true } });
    // A probe of the worker's own port (a load balancer's, kubelet's) has no X-Forwarded-For and is no finding.
    expect((await fetch(`${audited.running.url}/ping`)).status).toBe(200);
    // A client that reaches the worker without the proxy could write its own X-Forwarded-For (a new address per
    // connection, past every per-address limit): the one it sends here is taken as its address.
    await handshake(audited.running.url, {});
    await waitFor(() => audited.codes().includes('trust_proxy_bypassed'), 'the trust_proxy_bypassed finding');
    expect(audited.codes()).toEqual(['trust_proxy_bypassed']);
    expect(audited.warnings()).toEqual([expect.stringMatching(/^\[trust_proxy_bypassed\] A WebSocket handshake of the event channel arrived without X-Forwarded-For .*Fix: .*127\.0\.0\.1/)]);
    expect(audited.running.app.get(BridgeSecurityAudit).findings()[0].seen).toBe('traffic');
  });

  it('says nothing when bridge.trustProxy is set', async () => {
    const audited = await startAudited({ bridge: { trustProxy: true } });
    await fetch(`${audited.running.url}/ping`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    await handshake(audited.running.url, { 'x-forwarded-for': '203.0.113.9' });
    expect(audited.codes()).toEqual([]);
  });
});

describeWithRedis('the security audit with several workers sharing Redis', () => {
  let redis: RedisTestServer;
  let sessions: ReturnType<typeof createClient>;

  beforeAll(async () => {
    // Redis as docs/deploy.md sets it up: a memory bound, and writes refused rather than keys evicted when full.
    redis = await RedisTestServer.launch(['--maxmemory', '1gb', '--maxmemory-policy', 'noeviction']);
    sessions = createClient({ url: redis.url });
    // While a test has Redis down, this client reconnects (and says so here) rather than crash the run.
    sessions.on('error', () => undefined);
    await sessions.connect();
  });

  afterEach(async () => {
    await sessions.configSet({ maxmemory: '1gb', 'maxmemory-policy': 'noeviction' });
  });

  afterAll(async () => {
    await Promise.all(running.splice(0).map((app) => app.close()));
    await sessions?.quit();
    await redis?.destroy();
  });

  it('finds nothing when sessions, states and fan-out live in Redis', async () => {
    const store = new RedisStore({ client: sessions, prefix: 'audit:sess:' });
    const audited = await startAudited({ workers: 3, redisUrl: redis.url, session: { store }, sessionStore: { prefix: 'audit:sess:' } });
    expect(audited.codes()).toEqual([]);
    // The probes saved nothing: no session was written to the store.
    expect(await sessions.keys('audit:sess:*')).toEqual([]);
  });

  it("names a Redis without maxmemory (Redis's default), whose memory nothing then bounds, unless the store has a limit in bytes", async () => {
    await sessions.configSet('maxmemory', '0');
    const store = new RedisStore({ client: sessions, prefix: 'audit:sess:' });
    const audited = await startAudited({ workers: 3, redisUrl: redis.url, session: { store }, sessionStore: { prefix: 'audit:sess:' } });
    expect(audited.codes()).toEqual(['redis_maxmemory_unset']);
    expect(audited.warnings()).toEqual([expect.stringMatching(/^\[redis_maxmemory_unset\] The state store's Redis has no maxmemory.*Fix: set maxmemory in redis\.conf/)]);

    const bounded = await startAudited({ redisUrl: redis.url, redisMemoryLimitBytes: 200_000_000 });
    expect(bounded.codes()).toEqual([]);
  });

  it('names a Redis that evicts keys when full (locks, states and sessions would vanish)', async () => {
    await sessions.configSet('maxmemory-policy', 'allkeys-lru');
    const audited = await startAudited({ redisUrl: redis.url });
    expect(audited.codes()).toEqual(['redis_evicts_keys']);
    expect(audited.warnings()).toEqual([expect.stringContaining('maxmemory-policy allkeys-lru')]);
  });

  it('starts without a Redis finding when Redis is down at startup (nothing to read; the store reconnects on its own)', async () => {
    await redis.stop();
    try {
      const audited = await startAudited({ redisUrl: redis.url });
      expect(audited.codes()).toEqual([]);
    } finally {
      await redis.start();
    }
  });

  it('still names the in-memory session store when only the bridge uses Redis', async () => {
    const audited = await startAudited({ workers: 3, redisUrl: redis.url });
    expect(audited.codes()).toEqual(['session_store_in_memory']);
  });
});
