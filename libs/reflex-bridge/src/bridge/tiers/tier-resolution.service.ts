import { Inject, Injectable, Logger, type OnModuleInit, type Type } from '@nestjs/common';
import { GUARDS_METADATA } from '@nestjs/common/constants.js';
import { ModuleRef, Reflector } from '@nestjs/core';
import type { HandlerDefinition } from '../../state/state-definition.js';
import { RESOLVED_OPTIONS } from '../../reflex-bridge.module-definition.js';
import type { ResolvedReflexBridgeOptions } from '../../reflex-bridge.options.js';
import { AppState } from '../session/app-state.js';
import { BridgeTierMetadata } from './bridge-tier.decorator.js';
import type { BridgeTier } from './bridge-tier.js';
import type { BridgeEventInfo, BridgeTierResolver, BridgeTierResolverFn } from './bridge-tier-resolver.js';
import { resolveTier } from './resolve-tier.js';

/** What a handler's tier depends on besides the resolver, read once per handler. */
export interface HandlerTierInputs {
  /** `@BridgeTier` on the handler method. */
  handlerTier?: BridgeTier;
  /** `@BridgeTier` on the state class itself (not inherited). */
  classTier?: BridgeTier;
  /** For `smart` mode: the handler uses the request (AppState, request/user/session params, guards). */
  bridgeAware: boolean;
  /** Has an upload parameter (`@EventUploads()` / `@EventUploadChunks()`), declared `@EventHandler({ upload: true })`, or a method name containing "upload". */
  uploadHandler: boolean;
  /** The tier of an ordinary and of an upload event, when no resolver can change the answer. */
  plain: BridgeTier;
  upload: BridgeTier;
}

/**
 * Picks the tier of each event: the resolver (`bridge.resolver`), then `@BridgeTier` on the handler, then on
 * its state class (own metadata, not inherited), then the mode; uploads are raised to at least `auth_only`.
 * The metadata is read through the `Reflector` once per handler, at first use; without a resolver the whole
 * answer is worked out once per handler.
 */
@Injectable()
export class TierResolution implements OnModuleInit {
  private readonly logger = new Logger('ReflexBridge');
  private resolver?: (stateClass: Type, event: BridgeEventInfo) => unknown;
  private readonly inputs = new Map<HandlerDefinition, HandlerTierInputs>();

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReflexBridgeOptions,
    private readonly reflector: Reflector,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** Instantiates an injectable resolver class with DI (a resolver function is used as is). */
  async onModuleInit(): Promise<void> {
    const resolver = this.options.bridge.resolver;
    if (!resolver) return;
    if (typeof resolver === 'function' && typeof (resolver.prototype as Partial<BridgeTierResolver> | undefined)?.resolve === 'function') {
      const instance = await this.moduleRef.create(resolver as Type<BridgeTierResolver>);
      this.resolver = (stateClass, event) => instance.resolve(stateClass, event);
    } else {
      this.resolver = resolver as BridgeTierResolverFn;
    }
  }

  /** The tier `handler` runs on for an event from `pathname`. */
  tierFor(handler: HandlerDefinition, pathname: string): BridgeTier {
    const inputs = this.inputsOf(handler);
    const upload = inputs.uploadHandler || pathname.startsWith('/_upload');
    // Without a resolver the answer depends on the handler and `upload` only: worked out once per handler.
    if (!this.resolver) return upload ? inputs.upload : inputs.plain;
    let resolverAnswer: unknown;
    try {
      resolverAnswer = this.resolver(handler.state.cls, { name: handler.fullName, handler: handler.method, pathname, upload });
    } catch (error) {
      this.logger.warn(`The bridge tier resolver threw for ${handler.fullName}; falling through: ${(error as Error).message}`);
    }
    return resolveTier({ resolverAnswer, ...inputs, mode: this.options.bridge.mode, upload });
  }

  /**
   * Why `handler` got `tier` for an event from `pathname` (devtools): the resolver, `@BridgeTier` on the handler
   * or its class, the mode, or the upload floor. Read only when devtools are on.
   */
  reasonFor(handler: HandlerDefinition, pathname: unknown, tier: BridgeTier): string {
    const inputs = this.inputsOf(handler);
    const upload = inputs.uploadHandler || (typeof pathname === 'string' && pathname.startsWith('/_upload'));
    if (this.resolver && tier !== (upload ? inputs.upload : inputs.plain)) return 'bridge.resolver';
    if (this.options.profile === 'reflex_only') return 'profile "reflex_only"';
    const mode = this.options.bridge.mode;
    let reason: string;
    let base: BridgeTier;
    if (inputs.handlerTier) [reason, base] = ['@BridgeTier on the handler', inputs.handlerTier];
    else if (inputs.classTier) [reason, base] = ['@BridgeTier on the class', inputs.classTier];
    else if (mode === 'smart') [reason, base] = inputs.bridgeAware ? ['smart mode: uses the request', 'full'] : ['smart mode: never uses the request', 'none'];
    else [reason, base] = [`bridge.mode "${mode}"`, mode];
    if (upload && base === 'none' && tier === 'auth_only') return `upload floor (${reason} said none)`;
    return reason;
  }

  /** The tier of an ordinary (non-upload) event of `handler` before any resolver: what the startup audit checks. */
  staticTierOf(handler: HandlerDefinition): BridgeTier {
    return this.inputsOf(handler).plain;
  }

  /** The handler's tier inputs, read once. */
  inputsOf(handler: HandlerDefinition): HandlerTierInputs {
    return this.inputs.get(handler) ?? this.readInputs(handler);
  }

  private readInputs(handler: HandlerDefinition): HandlerTierInputs {
    // Built-in handlers (such as live_subscribe) have no method: only their class's settings apply.
    const method = (handler.state.cls.prototype[handler.method] as ((...args: unknown[]) => unknown) | undefined) ?? undefined;
    const cls = handler.state.cls;
    const mode = this.options.bridge.mode;
    const uploadHandler = handler.upload !== undefined || handler.options.upload === true || handler.method.toLowerCase().includes('upload');
    const handlerTier = method ? this.reflector.get(BridgeTierMetadata, method) : undefined;
    // Own metadata only: a class's tier is not inherited (reflex-django reads `_rx_bridge` from the class itself).
    const classTier = Reflect.hasOwnMetadata(BridgeTierMetadata.KEY, cls) ? this.reflector.get(BridgeTierMetadata, cls) : undefined;
    const bridgeAware =
      cls.prototype instanceof AppState ||
      // Route params come from router_data, not from the request: they need no bridge. Upload parameters raise the
      // tier to the upload floor (auth_only) by themselves, not to `full`.
      handler.params.some((param) => param.kind === 'request' || param.kind === 'user' || param.kind === 'session') ||
      Boolean(this.reflector.get<unknown[]>(GUARDS_METADATA, cls)?.length) ||
      Boolean(method && this.reflector.get<unknown[]>(GUARDS_METADATA, method)?.length);
    const base = { handlerTier, classTier, bridgeAware, mode };
    // profile "reflex_only": events never run the app's pipeline, whatever the decorators say (it refuses a
    // resolver and a bridge.mode other than none at startup, so this per-handler answer is final).
    const reflexOnly = this.options.profile === 'reflex_only';
    const inputs: HandlerTierInputs = {
      handlerTier,
      classTier,
      bridgeAware,
      uploadHandler,
      plain: reflexOnly ? 'none' : resolveTier({ ...base, upload: uploadHandler }),
      upload: reflexOnly ? 'none' : resolveTier({ ...base, upload: true }),
    };
    this.inputs.set(handler, inputs);
    return inputs;
  }
}
