import { describe, expect, it } from '@jest/globals';
import { BadRequestException, ForbiddenException, HttpException, UnauthorizedException } from '@nestjs/common';
import { codeForStatus, errorForRefusal, errorFromHttpException, errorFromResponse, redirectTarget } from './bridge-error-mapping.js';
import { SyntheticResponse } from './request/synthetic-response.js';

const answered = (status: number, body?: unknown) => {
  const response = new SyntheticResponse();
  response.status(status);
  if (body === undefined) response.end();
  else if (typeof body === 'string') response.send(body);
  else response.json(body);
  return response;
};

describe('bridge error mapping', () => {
  it('maps statuses to client codes', () => {
    expect([401, 403, 400, 422, 404, 500, 302].map(codeForStatus)).toEqual([
      'unauthorized',
      'forbidden',
      'invalid_payload',
      'invalid_payload',
      'handler_error',
      'handler_error',
      'handler_error',
    ]);
  });

  it('takes the message of a response from a short string body or a JSON body\'s message, else the fallback', () => {
    expect(errorFromResponse(answered(401, 'Log in first.'), 'x').toPayload()).toMatchObject({ code: 'unauthorized', message: 'Log in first.', status: 401 });
    expect(errorFromResponse(answered(403, { message: 'Members only.' }), 'x').toPayload()).toMatchObject({ code: 'forbidden', message: 'Members only.' });
    expect(errorFromResponse(answered(500, 'y'.repeat(600)), 'The event was refused.').message).toBe('The event was refused.');
    expect(errorFromResponse(answered(418), 'fallback').message).toBe('fallback');
  });

  it('maps a 429 to rate_limited, its wait from the longest Retry-After header, whatever the throttler is named', () => {
    const limited = (headers: Record<string, string>) => {
      const response = new SyntheticResponse();
      for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
      return response;
    };
    const tooMany = new HttpException('Too Many Requests', 429);
    expect(errorFromHttpException(tooMany, limited({ 'Retry-After': '7' })).toPayload()).toMatchObject({ code: 'rate_limited', status: 429, retryAfterMs: 7000 });
    expect(errorFromHttpException(tooMany, limited({ 'Retry-After-burst': '2', 'Retry-After-long': '30', 'X-Other': '99' })).retryAfterMs).toBe(30_000);
    expect(errorFromHttpException(tooMany, limited({ 'Retry-After': 'soon' })).toPayload()).not.toHaveProperty('retryAfterMs');
    expect(errorFromHttpException(tooMany).code).toBe('rate_limited');
    const answer = answered(429, 'Slow down.');
    answer.setHeader('Retry-After', '3');
    expect(errorFromResponse(answer, 'x').toPayload()).toMatchObject({ code: 'rate_limited', message: 'Slow down.', retryAfterMs: 3000 });
    expect(errorFromHttpException(new HttpException('teapot', 418), limited({ 'Retry-After': '5' })).toPayload()).not.toHaveProperty('retryAfterMs');
  });

  it('maps HttpExceptions by status and message', () => {
    expect(errorFromHttpException(new UnauthorizedException('Who are you?')).toPayload()).toMatchObject({ code: 'unauthorized', message: 'Who are you?', status: 401 });
    expect(errorFromHttpException(new BadRequestException('bad')).code).toBe('invalid_payload');
    expect(errorFromHttpException(new ForbiddenException()).code).toBe('forbidden');
    expect(errorFromHttpException(new HttpException('teapot', 418)).code).toBe('handler_error');
  });

  it('finds a redirect only for the configured statuses with a Location', () => {
    const statuses = [301, 302, 303, 307, 308];
    const redirected = new SyntheticResponse();
    redirected.redirect('/login');
    expect(redirectTarget(redirected, statuses)).toBe('/login');
    expect(redirectTarget(redirected, [303])).toBeUndefined();
    expect(redirectTarget(answered(302), statuses)).toBeUndefined();
  });

  it('turns a guard refusal into forbidden (403), or into the error the guard answered on the response', () => {
    expect(errorForRefusal(undefined).toPayload()).toMatchObject({ code: 'forbidden', status: 403 });
    expect(errorForRefusal(new SyntheticResponse()).code).toBe('forbidden');
    expect(errorForRefusal(answered(401, 'Log in first.')).toPayload()).toMatchObject({ code: 'unauthorized', message: 'Log in first.' });
  });
});
