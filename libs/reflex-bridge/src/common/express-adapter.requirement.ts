import { Injectable, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { UnsupportedHttpAdapterError } from './unsupported-http-adapter.error.js';

/**
 * Refuses to start on an HTTP adapter other than Express. Checked when the module's providers are created, before
 * any of them registers a route: on Fastify the first route would otherwise fail deep inside the router (or answer
 * 500 at run time) with nothing saying why. An application context (`createApplicationContext`) has no HTTP
 * adapter and no routes, and passes.
 */
@Injectable()
export class ExpressAdapterRequirement {
  constructor(@Optional() adapterHost?: HttpAdapterHost) {
    const adapter = adapterHost?.httpAdapter;
    if (!adapter) return;
    const type = typeof adapter.getType === 'function' ? adapter.getType() : 'unknown';
    if (type !== 'express') throw new UnsupportedHttpAdapterError(String(type));
  }
}
