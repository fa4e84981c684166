import type { RequestHandler } from 'express';
import type { SyntheticRequest } from './synthetic-request.js';
import type { SyntheticResponse } from './synthetic-response.js';

/** How a middleware chain ended: every middleware called `next()`, or one answered the request. */
export type MiddlewareOutcome = 'continue' | 'answered';

/**
 * Runs Express middleware in order on a synthetic request. Stops as soon as one answers (ends the
 * response without calling `next`), and rejects when one passes an error to `next(err)`.
 */
export async function runMiddleware(
  chain: readonly RequestHandler[],
  request: SyntheticRequest,
  response: SyntheticResponse,
): Promise<MiddlewareOutcome> {
  for (const middleware of chain) {
    if (response.finished) return 'answered';
    const outcome = await new Promise<MiddlewareOutcome>((resolve, reject) => {
      const onFinish = () => resolve('answered');
      response.once('finish', onFinish);
      const next = (error?: unknown) => {
        response.off('finish', onFinish);
        // Express treats next('route') / next('router') as "skip", not as an error.
        if (error && error !== 'route' && error !== 'router') reject(error instanceof Error ? error : new Error(String(error)));
        else resolve('continue');
      };
      try {
        const result = (middleware as unknown as (req: unknown, res: unknown, next: unknown) => unknown)(request, response, next);
        if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).catch(next);
      } catch (error) {
        next(error);
      }
    });
    if (outcome === 'answered') return 'answered';
  }
  return 'continue';
}
