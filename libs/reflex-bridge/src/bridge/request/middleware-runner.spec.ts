import { describe, expect, it } from '@jest/globals';
import type { RequestHandler } from 'express';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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
});
