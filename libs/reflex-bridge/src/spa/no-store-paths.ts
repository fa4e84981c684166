import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { anyOf, reservedPaths } from './reserved-paths.js';
import { requestPathname } from '../common/request-pathname.js';

/**
 * Makes `Cache-Control: no-store` the default of every answer on the module's own paths (the event path, uploads,
 * ping, health, devtools, `/_bridge`, metrics, in any letter case), so that the answers nobody wrote a header for
 * (Nest's JSON 404 for a method or sub-path the module does not serve) are not kept by a shared cache either: a
 * 404 without `Cache-Control` is cacheable by default (RFC 9111), and a CDN in front could serve one user's
 * momentary refusal to everyone. Routes that want caching (stored upload files) set their own header, which wins.
 * Engine.IO answers its requests before Express sees them: {@link noStoreEngineAnswers} covers those.
 */
@Injectable()
export class NoStorePaths implements OnModuleInit {
  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return;
    const paths = anyOf(reservedPaths(this.options));
    adapter.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
      // The path as Express routes it (an absolute-form target, a `#`): the same answer whichever way it is spelt.
      if (paths.test(requestPathname(req))) res.setHeader('Cache-Control', 'no-store');
      next();
    });
  }
}
