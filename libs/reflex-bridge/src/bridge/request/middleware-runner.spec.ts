import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { RequestHandler } from 'express';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeadlineQueue } from '../../common/deadline-queue.js';
import { runMiddleware, runMiddlewareChain } from './middleware-runner.js';
import { SyntheticRequest } from './synthetic-request.js';
import { SyntheticResponse } from './synthetic-response.js';

type Handler = (req: SyntheticRequest, res: SyntheticResponse, next: (error?: unknown) => void) => unknown;
const chainOf = (...handlers: Handler[]) => handlers as unknown as RequestHandler[];
const request = () => new SyntheticRequest({ path: '/', query: {}, headers: {}, ip: '::1', remoteAddress: '::1', secure: false });

describe('runMiddlewareChain', () => {
  it('answers synchronously when every middleware calls next before returning', () => {
    const seen: string[] = [];
    const outcome = runMiddlewareChain(
      chainOf(
        (_req, _res, next) => {
          seen.push('a');
          next();
        },
        (_req, _res, next) => {
          seen.push('b');
          next('route');
        },
      ),
      request(),
      new SyntheticResponse(),
    );
    expect(outcome).toBe('continue');
    expect(seen).toEqual(['a', 'b']);
  });

  it('waits for a middleware that calls next later, then goes on in order', async () => {
    const seen: string[] = [];
    const outcome = runMiddlewareChain(
      chainOf(
        (_req, _res, next) => void setImmediate(() => (seen.push('late'), next())),
        (_req, _res, next) => (seen.push('sync'), next()),
      ),
      request(),
      new SyntheticResponse(),
    );
    expect(outcome).toBeInstanceOf(Promise);
    expect(await outcome).toBe('continue');
    expect(seen).toEqual(['late', 'sync']);
  });

  it('gives up on a middleware that has not settled within the time limit: session_unavailable, and its late next() runs nothing more', async () => {
    const seen: string[] = [];
    let lateNext: (() => void) | undefined;
    const outcome = runMiddlewareChain(
      chainOf(
        // A session store that stopped answering: next() comes only when the test says so.
        (_req, _res, next) => void (lateNext = () => next()),
        (_req, _res, next) => (seen.push('after'), next()),
      ),
      request(),
      new SyntheticResponse(),
      new DeadlineQueue(20),
    );
    await expect(outcome).rejects.toMatchObject({ code: 'session_unavailable' });
    lateNext!();
    expect(seen).toEqual([]);
    // A chain that settles in time is not affected by its limit, and leaves its queue: the next entry tracked finds
    // it settled (whether it continued or failed).
    const queue = new DeadlineQueue(60_000);
    expect(await runMiddlewareChain(chainOf((_req, _res, next) => void setImmediate(() => next())), request(), new SyntheticResponse(), queue)).toBe('continue');
    await expect(runMiddlewareChain(chainOf((_req, _res, next) => void setImmediate(() => next(new Error('store down')))), request(), new SyntheticResponse(), queue)).rejects.toThrow('store down');
    queue.track({ deadline: 0, settled: false, expire: () => undefined });
    expect(queue.size).toBe(1);
    queue.close();
  });

  it('stops at a middleware that answers, at once or later, and when it answers before calling next', async () => {
    const after: Handler = () => {
      throw new Error('must not run');
    };
    expect(runMiddlewareChain(chainOf((_req, res) => void res.status(401).end(), after), request(), new SyntheticResponse())).toBe('answered');
    expect(await runMiddlewareChain(chainOf((_req, res) => void setImmediate(() => res.redirect('/login')), after), request(), new SyntheticResponse())).toBe('answered');
    expect(runMiddlewareChain(chainOf((_req, res, next) => (res.end(), next())), request(), new SyntheticResponse())).toBe('answered');
  });

  it('rejects (never throws) on next(err), a throw, or a rejected promise', async () => {
    const failing: Handler[] = [
      (_req, _res, next) => next(new Error('next')),
      () => {
        throw new Error('thrown');
      },
      async () => {
        throw new Error('rejected');
      },
      (_req, _res, next) => void setImmediate(() => next('as string')),
    ];
    const messages: string[] = [];
    for (const handler of failing) {
      const outcome = runMiddlewareChain(chainOf(handler), request(), new SyntheticResponse());
      expect(outcome).toBeInstanceOf(Promise);
      await (outcome as Promise<unknown>).catch((error: Error) => messages.push(error.message));
    }
    expect(messages).toEqual(['next', 'thrown', 'rejected', 'as string']);
  });

  it('lets the first of next and finish decide, ignoring the later one', async () => {
    const response = new SyntheticResponse();
    const outcome = runMiddleware(
      chainOf((_req, res, next) => {
        setImmediate(() => {
          next();
          res.end();
        });
      }),
      request(),
      response,
    );
    expect(await outcome).toBe('continue');
    expect(response.listenerCount('finish')).toBe(0);
  });

  it("runs on a real HTTP response too (an upload's chain), a middleware answering it later or letting it through", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const outcomes: unknown[] = [];
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const answerLater: Handler = (_req, answer) => void setImmediate(() => answer.end('refused'));
      const passLater: Handler = (_req, _res, next) => void setImmediate(() => next());
      const chain = req.url === '/answer' ? chainOf(passLater, answerLater) : chainOf(passLater);
      void runMiddleware(chain, req as unknown as SyntheticRequest, res as unknown as SyntheticResponse).then((outcome) => {
        outcomes.push(outcome);
        if (!res.writableEnded) res.end('through');
      });
    });
    try {
      const { port } = server.address() as AddressInfo;
      expect(await (await fetch(`http://127.0.0.1:${port}/answer`)).text()).toBe('refused');
      expect(await (await fetch(`http://127.0.0.1:${port}/pass`)).text()).toBe('through');
      expect(outcomes).toEqual(['answered', 'continue']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('ends any chain as its first deciding middleware says, running nothing after it and ignoring what it does later', async () => {
    /** What a middleware does: how it settles, at once or on a later turn, and what it does after that. */
    type Behaviour = 'next' | 'next-late' | 'next-twice' | 'next-and-again-later' | 'skip-route' | 'answer' | 'answer-late' | 'answer-then-next' | 'error' | 'error-late' | 'throw' | 'reject';
    const behaviours: Behaviour[] = ['next', 'next-late', 'next-twice', 'next-and-again-later', 'skip-route', 'answer', 'answer-late', 'answer-then-next', 'error', 'error-late', 'throw', 'reject'];
    const later = (action: () => void) => void setImmediate(action);
    const handlerFor = (behaviour: Behaviour, index: number, ran: number[]): Handler => (_req, res, next) => {
      ran.push(index);
      switch (behaviour) {
        case 'next':
          return next();
        case 'next-late':
          return later(() => next());
        case 'next-twice':
          next();
          return next();
        case 'next-and-again-later':
          // The second call comes while a later middleware may be pending: it must not settle that one.
          next();
          return later(() => next(new Error('a stale next')));
        case 'skip-route':
          return next('route');
        case 'answer':
          return void res.status(403).end();
        case 'answer-late':
          return later(() => res.status(403).end());
        case 'answer-then-next':
          res.status(403).end();
          return next();
        case 'error':
          return next(new Error(`error ${index}`));
        case 'error-late':
          return later(() => next(new Error(`error ${index}`)));
        case 'throw':
          throw new Error(`error ${index}`);
        case 'reject':
          return Promise.reject(new Error(`error ${index}`));
      }
    };
    /** The model: the first middleware that does not let the event through decides; errors always come as a rejection. */
    const settlesLater = new Set<Behaviour>(['next-late', 'answer-late', 'error-late', 'reject']);
    const expected = (chain: Behaviour[]) => {
      let sync = true;
      for (let index = 0; index < chain.length; index++) {
        const behaviour = chain[index]!;
        if (settlesLater.has(behaviour)) sync = false;
        if (behaviour.startsWith('answer')) return { outcome: 'answered', ran: index + 1, sync };
        if (behaviour.startsWith('error') || behaviour === 'throw' || behaviour === 'reject') return { outcome: `error ${index}`, ran: index + 1, sync: false };
      }
      return { outcome: 'continue', ran: chain.length, sync };
    };
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...behaviours), { maxLength: 6 }), async (chain) => {
        const ran: number[] = [];
        const response = new SyntheticResponse();
        const result = runMiddlewareChain(chainOf(...chain.map((behaviour, index) => handlerFor(behaviour, index, ran))), request(), response);
        const model = expected(chain);
        expect(!(result instanceof Promise)).toBe(model.sync);
        const outcome = await Promise.resolve(result).then(
          (value) => value,
          (error: Error) => error.message,
        );
        // Whatever the deciding middleware does later (a second next, an answer) changes nothing.
        await new Promise((resolve) => setImmediate(resolve));
        expect({ outcome, ran: ran.length }).toEqual({ outcome: model.outcome, ran: model.ran });
        expect(ran).toEqual([...Array(model.ran).keys()]);
        expect(response.listenerCount('finish')).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
