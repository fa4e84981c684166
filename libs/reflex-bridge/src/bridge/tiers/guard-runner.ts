import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { isObservable, lastValueFrom } from 'rxjs';
import { isThenable, type MaybePromise } from '../../common/maybe-promise.js';

/**
 * Runs guards in order under Nest's guard contract: each answers `boolean | Promise<boolean> |
 * Observable<boolean>` (an observable counts by its last value), the first that does not answer `true` stops
 * the run, and what a guard throws propagates. Unlike Nest's own guard consumer, the answer stays synchronous
 * (a plain boolean, no promise) while every guard answers synchronously; the first asynchronous answer turns
 * the rest of the run into one promise. The caller maps `false` to its refusal (the bridge: `forbidden`).
 */
export function runGuards(guards: readonly CanActivate[], context: ExecutionContext, from = 0): MaybePromise<boolean> {
  for (let index = from; index < guards.length; index++) {
    const answer = guards[index].canActivate(context) as unknown;
    if (typeof answer === 'boolean') {
      if (!answer) return false;
      continue;
    }
    const pending = isObservable(answer) ? lastValueFrom(answer) : isThenable(answer) ? Promise.resolve(answer) : undefined;
    // Anything else (a non-boolean value): truthy lets the event through, as Nest's consumer does.
    if (!pending) {
      if (!answer) return false;
      continue;
    }
    const next = index + 1;
    return pending.then((allowed) => (allowed ? runGuards(guards, context, next) : false));
  }
  return true;
}
