import type { DynamicModule, Provider } from '@nestjs/common';
import { AbstractLoader, ServeStaticModule } from '@nestjs/serve-static';
import { SpaStaticLoader } from './spa-static.loader.js';
import { RESOLVED_OPTIONS } from '../reflex-bridge.module-definition.js';
import { resolveOptions, type ReflexBridgeModuleOptions, type ResolvedReflexBridgeOptions } from '../reflex-bridge.options.js';
import { fallbackExclusion, serveStaticOptionsOf } from './spa-serve-static.options.js';
import { SPA_FALLBACK_RULES, SpaFallbackGate, type SpaFallbackRules } from './spa-fallback.gate.js';
import { addressKeyingOf } from '../security/client-address.js';
import { SPA_DEFAULTS } from './spa.options.js';

/** The module options as the SPA's serve-static module sees them (inside it, the bridge module's own are out of reach). */
const SPA_SOURCE_OPTIONS = Symbol('ReflexSpaSourceOptions');

/**
 * The `ServeStaticModule` that serves `spa`, for the bridge module to import:
 * - from `forRoot`, with the options given (resolved again inside it: pure and cheap), only when `spa` is set;
 * - from `forRootAsync`, reading the module's resolved options through DI (the bridge module is global by default,
 *   so they are in reach); it serves nothing when the options turn out to have no `spa`.
 * Its providers: serve-static's options, its loader ({@link SpaStaticLoader}), and the {@link SpaFallbackGate} that keeps JSON requests off the fallback.
 */
export function spaServeStaticImport(source: { options: ReflexBridgeModuleOptions } | { fromResolvedOptions: true }): DynamicModule {
  const optionsProvider: Provider =
    'options' in source
      ? { provide: SPA_SOURCE_OPTIONS, useFactory: () => resolveOptions(source.options) }
      : { provide: SPA_SOURCE_OPTIONS, useExisting: RESOLVED_OPTIONS };
  return ServeStaticModule.forRootAsync({
    useFactory: (options: ResolvedReflexBridgeOptions) => serveStaticOptionsOf(options),
    inject: [SPA_SOURCE_OPTIONS],
    extraProviders: [
      optionsProvider,
      // Replaces serve-static's own loader choice (made too early for testing modules; see SpaStaticLoader).
      { provide: AbstractLoader, useClass: SpaStaticLoader },
      {
        provide: SPA_FALLBACK_RULES,
        useFactory: (options: ResolvedReflexBridgeOptions): SpaFallbackRules => ({
          enabled: options.spa?.fallback === true,
          rootPath: options.spa?.rootPath ?? '',
          base: options.spa?.base ?? '/',
          exclusion: fallbackExclusion(options),
          addressKeying: addressKeyingOf(options),
          idleTimeoutMs: options.spa?.idleTimeoutMs ?? SPA_DEFAULTS.idleTimeoutMs,
        }),
        inject: [SPA_SOURCE_OPTIONS],
      },
      SpaFallbackGate,
    ],
  });
}
