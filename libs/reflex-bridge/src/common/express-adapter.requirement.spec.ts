import { describe, expect, it } from '@jest/globals';
import type { HttpAdapterHost } from '@nestjs/core';
import { ExpressAdapterRequirement } from './express-adapter.requirement.js';
import { UnsupportedHttpAdapterError } from './unsupported-http-adapter.error.js';

/** A host holding an adapter of the given type, as NestFactory.create sets it. */
function hostOf(type: string | undefined): HttpAdapterHost {
  return { httpAdapter: type === undefined ? undefined : { getType: () => type } } as unknown as HttpAdapterHost;
}

describe('ExpressAdapterRequirement', () => {
  it('refuses to start on Fastify, with one error naming the adapter found and the one required', () => {
    expect(() => new ExpressAdapterRequirement(hostOf('fastify'))).toThrow(UnsupportedHttpAdapterError);
    expect(() => new ExpressAdapterRequirement(hostOf('fastify'))).toThrow(/needs Nest's Express HTTP adapter.*"fastify" adapter/s);
  });

  it('starts on Express, and in an application context, which has no HTTP adapter', () => {
    expect(() => new ExpressAdapterRequirement(hostOf('express'))).not.toThrow();
    expect(() => new ExpressAdapterRequirement(hostOf(undefined))).not.toThrow();
    expect(() => new ExpressAdapterRequirement(undefined)).not.toThrow();
  });
});
