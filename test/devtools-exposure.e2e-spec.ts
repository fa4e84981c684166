/**
 * With devtools on, an app listening where other machines reach it (`app.listen(port)`: every interface) is told so at
 * startup: the devtools answer any request addressed by IP, and list every tab's token and state.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { ReflexBridgeModule, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import { CapturingLogger } from './support/app.js';

describe('devtools on an app other machines reach', () => {
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /** Starts an app with `options`, listening on `host` (every interface without one); what it logged. */
  const start = async (options: ReflexBridgeModuleOptions, host?: string) => {
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({ imports: [ReflexBridgeModule.forRoot(options)] }).compile();
    app = moduleRef.createNestApplication({ logger });
    if (host) await app.listen(0, host);
    else await app.listen(0);
    const { port } = app.getHttpServer().address() as AddressInfo;
    const warnings = logger.lines.filter((line) => line.level === 'warn' && line.message.startsWith('Devtools are on')).map((line) => line.message);
    return { port, warnings };
  };

  it('warns when the app listens on every interface, naming the address and the fix', async () => {
    const { port, warnings } = await start({ devtools: true });
    expect(warnings).toEqual([expect.stringContaining(`:${port}, which other machines reach`)]);
    expect(warnings[0]).toContain("app.listen(port, '127.0.0.1')");
  });

  it('stays quiet on loopback, and without devtools', async () => {
    expect((await start({ devtools: true }, '127.0.0.1')).warnings).toEqual([]);
    await app!.close();
    expect((await start({})).warnings).toEqual([]);
  });
});
