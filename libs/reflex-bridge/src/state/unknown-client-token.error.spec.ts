import { describe, expect, it } from '@jest/globals';
import { HttpException, HttpStatus, NotFoundException } from '@nestjs/common';
import { UnknownClientTokenError } from './unknown-client-token.error.js';

describe('UnknownClientTokenError', () => {
  it('is a Nest NotFoundException: an uncaught one answers 404 with its message', () => {
    const error = new UnknownClientTokenError('unknown');
    expect(error).toBeInstanceOf(NotFoundException);
    expect(error).toBeInstanceOf(HttpException);
    expect(error.getStatus()).toBe(HttpStatus.NOT_FOUND);
    expect(error.getResponse()).toEqual({ statusCode: 404, message: 'No client state exists for this token.', error: 'Not Found' });
  });

  it('keeps its name, reason, message and class for code that tells it apart', () => {
    const error = new UnknownClientTokenError('malformed');
    expect(error).toBeInstanceOf(UnknownClientTokenError);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'UnknownClientTokenError', reason: 'malformed', message: 'This is not a client token.' });
  });
});
