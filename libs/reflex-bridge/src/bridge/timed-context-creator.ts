import type { ExternalContextCreator } from '@nestjs/core';
import { timedFilter, timedGuard, timedInterceptor } from './enhancer-timing.js';

/** Where Nest's external context creator looks up each guard, interceptor and filter instance. */
interface EnhancerLookups {
  guardsContextCreator?: object;
  interceptorsContextCreator?: object;
  filtersContextCreator?: object;
}

type Lookup = (this: object, ...args: unknown[]) => object | null | undefined;

/**
 * `creator` with its instance lookup `method` replaced: each enhancer it finds comes back wrapped by `wrap`.
 * The lookup runs on the derived object, so what Nest stores while creating a context (the module) stays on
 * it. Undefined when `creator` has no such method (another Nest version's internals).
 */
function wrapLookup(creator: object | undefined, method: string, wrap: (enhancer: never) => object): object | undefined {
  const lookup = (creator as Record<string, unknown> | undefined)?.[method];
  if (typeof lookup !== 'function') return undefined;
  const wrapped = Object.create(creator as object) as Record<string, unknown>;
  wrapped[method] = function (this: object, ...args: unknown[]) {
    const enhancer = (lookup as Lookup).apply(this, args);
    return enhancer ? wrap(enhancer as never) : enhancer;
  };
  return wrapped;
}

/**
 * For devtools: an `ExternalContextCreator` like `base` (same modules, same global and declared enhancers)
 * whose guards, interceptors and exception filters are timed one by one under their class names (see
 * enhancer-timing.ts). Nest offers no hook for that, so the derived creator replaces the three instance
 * lookups it delegates to (`getGuardInstance`, `getInterceptorInstance`, `getFilterInstance`); the wrappers
 * are made once per handler, when its Nest wrapper is created. When Nest's internals differ from these, it
 * answers `base` itself: the enhancers run untimed (their group is still timed as a whole).
 */
export function timedContextCreator(base: ExternalContextCreator): ExternalContextCreator {
  const internals = base as unknown as EnhancerLookups;
  const guardsContextCreator = wrapLookup(internals.guardsContextCreator, 'getGuardInstance', timedGuard);
  const interceptorsContextCreator = wrapLookup(internals.interceptorsContextCreator, 'getInterceptorInstance', timedInterceptor);
  const filtersContextCreator = wrapLookup(internals.filtersContextCreator, 'getFilterInstance', timedFilter);
  if (!guardsContextCreator || !interceptorsContextCreator || !filtersContextCreator) return base;
  return Object.assign(Object.create(base) as ExternalContextCreator, { guardsContextCreator, interceptorsContextCreator, filtersContextCreator });
}
