import { describe, expect, it } from '@jest/globals';
import { BadRequestException, ForbiddenException, ParseIntPipe, UnprocessableEntityException, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import fc from 'fast-check';
import { BridgeError } from '../protocol/bridge-error.js';
import { resolveHandlerArguments } from './handler-arguments.js';
import type { HandlerDefinition } from './state-definition.js';
import { getEventParams, Payload, type PayloadPipe } from './event-param.decorator.js';
import { preparePayloadPipes } from './payload-pipes.js';

function handler(params: HandlerDefinition['params'], paramTypes: unknown[]): HandlerDefinition {
  return { fullName: 'root.media_state.attach', method: 'attach', state: {} as HandlerDefinition['state'], options: {}, params, paramTypes, streaming: false, upload: 'buffered' };
}

describe('resolveHandlerArguments with an upload parameter', () => {
  const attach = handler([{ index: 1, kind: 'payload', key: 'id' }, { index: 0, kind: 'uploads' }], [Array, Number]);

  it('gives the upload parameter what the upload route passed, beside the payload keys from the form\'s args', () => {
    const files = [{ name: 'a.png' }];
    expect(resolveHandlerArguments(attach, { payload: { id: 7 }, upload: files })).toEqual([files, 7]);
  });

  it('refuses a socket event to an upload handler: files only come with an upload', () => {
    expect(() => resolveHandlerArguments(attach, { payload: { id: 7 } })).toThrow(BridgeError);
    expect(() => resolveHandlerArguments(attach, { payload: { id: 7 } })).toThrow('root.media_state.attach takes an upload');
  });

  it('checks the form\'s args like an event payload', () => {
    expect(() => resolveHandlerArguments(attach, { payload: { id: 'seven' }, upload: [] })).toThrow('payload.id must be a number.');
  });
});

/** A range check as an app writes one: a 400 for anything outside [min, max]. */
class RangePipe implements PipeTransform<number, number> {
  constructor(
    private readonly min: number,
    private readonly max: number,
  ) {}

  transform(value: number): number {
    if (value < this.min || value > this.max) throw new BadRequestException(`must be between ${this.min} and ${this.max}`);
    return value;
  }
}

/** A handler whose `id` goes through `pipes` (instances, as preparePayloadPipes leaves them), prepared like the module does. */
async function piped(...pipes: PayloadPipe[]): Promise<HandlerDefinition> {
  const definition: HandlerDefinition = { ...handler([{ index: 0, kind: 'payload', key: 'id', pipes }], [Number]), upload: undefined };
  await preparePayloadPipes([definition], (pipe) => new pipe());
  return definition;
}

/** What resolving `payload` against `definition` gave: the arguments, or the error's code, message and details. */
async function outcome(definition: HandlerDefinition, payload: Record<string, unknown>): Promise<unknown> {
  try {
    return { args: await resolveHandlerArguments(definition, { payload }) };
  } catch (error) {
    return error instanceof BridgeError ? { code: error.code, details: error.details } : { thrown: error };
  }
}

describe('resolveHandlerArguments with @Payload(key, ...pipes)', () => {
  /** Numbers a hostile client sends where an id is expected, next to the integers an id can be. */
  const hostileNumbers = fc.oneof(fc.double(), fc.constantFrom(1.5, 1e300, -0, Number.MAX_VALUE, 2 ** 53, 2 ** 60, 1e21, Number.EPSILON), fc.integer());

  it('runs ParseIntPipe after the type check: a number that is not an integer is invalid_payload, an integer passes', async () => {
    const definition = await piped(ParseIntPipe);
    await fc.assert(
      fc.asyncProperty(hostileNumbers, async (id) => {
        const got = await outcome(definition, { id });
        // ParseIntPipe's own rule: the decimal text is digits only (it still lets integers past 2^53 through).
        if (/^-?\d+$/.test(String(id))) expect(got).toEqual({ args: [parseInt(String(id), 10)] });
        else expect(got).toEqual({ code: 'invalid_payload', details: ['payload.id: Validation failed (numeric string is expected)'] });
      }),
    );
  });

  it('refuses whatever is not a number before any pipe runs, as without pipes', async () => {
    let ran = 0;
    const definition = await piped({ transform: (value: unknown) => (ran++, value) });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.boolean(), fc.constant(null), fc.object(), fc.array(fc.integer())), async (id) => {
        expect(await outcome(definition, { id })).toMatchObject({ code: 'invalid_payload' });
      }),
    );
    expect(ran).toBe(0);
  });

  it('runs the pipes in order, each on the last one\'s result, with body metadata: ParseIntPipe then a range pipe', async () => {
    const seen: ArgumentMetadata[] = [];
    const spy: PipeTransform = { transform: (value: unknown, metadata: ArgumentMetadata) => (seen.push(metadata), value) };
    const definition = await piped(ParseIntPipe, new RangePipe(1, Number.MAX_SAFE_INTEGER), spy);
    await fc.assert(
      fc.asyncProperty(hostileNumbers, async (id) => {
        const got = await outcome(definition, { id });
        if (Number.isSafeInteger(id) && id >= 1) expect(got).toEqual({ args: [id] });
        else expect(got).toMatchObject({ code: 'invalid_payload' });
      }),
    );
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]).toEqual({ type: 'body', metatype: Number, data: 'id' });
  });

  it('keeps a range pipe\'s message in details, and 422 is invalid_payload too', async () => {
    const unprocessable: PipeTransform = {
      transform: () => {
        throw new UnprocessableEntityException(['first problem', 'second problem']);
      },
    };
    expect(await outcome(await piped(new RangePipe(1, 10)), { id: 11 })).toEqual({ code: 'invalid_payload', details: ['payload.id: must be between 1 and 10'] });
    expect(await outcome(await piped(unprocessable), { id: 1 })).toEqual({ code: 'invalid_payload', details: ['payload.id: first problem', 'payload.id: second problem'] });
  });

  it('lets any other error through as it is (a handler_error), sync or async', async () => {
    const broken = new Error('database down');
    const syncThrow: PipeTransform = {
      transform: () => {
        throw broken;
      },
    };
    const asyncThrow: PipeTransform = { transform: () => Promise.reject(broken) };
    const forbidden: PipeTransform = {
      transform: () => {
        throw new ForbiddenException();
      },
    };
    expect(await outcome(await piped(syncThrow), { id: 1 })).toEqual({ thrown: broken });
    expect(await outcome(await piped(asyncThrow), { id: 1 })).toEqual({ thrown: broken });
    expect(await outcome(await piped(forbidden), { id: 1 })).toEqual({ thrown: expect.any(ForbiddenException) });
  });

  it('stays synchronous with synchronous pipes, and a pipe may change the value', async () => {
    const definition = await piped({ transform: (value: number) => value * 2 });
    expect(resolveHandlerArguments(definition, { payload: { id: 4 } })).toEqual([8]);
  });

  it('refuses the event when the pipes were never prepared, rather than skip them', () => {
    const definition = handler([{ index: 0, kind: 'payload', key: 'id', pipes: [ParseIntPipe] }], [Number]);
    expect(() => resolveHandlerArguments(definition, { payload: { id: 1.5 } })).toThrow('were not prepared');
  });
});

describe('@Payload(...) as a decorator', () => {
  it('records the key and pipes, a leading pipe as the keyless form, and nothing for no pipes', () => {
    const range = new RangePipe(0, 1);
    class Shop {
      add(@Payload('id', ParseIntPipe, range) id: number, @Payload(ParseIntPipe) all: unknown, @Payload('plain') plain: string) {
        return [id, all, plain];
      }
    }
    const params = getEventParams(Shop.prototype, 'add');
    expect(params).toEqual(
      expect.arrayContaining([
        { index: 0, kind: 'payload', key: 'id', pipes: [ParseIntPipe, range] },
        { index: 1, kind: 'payload', key: undefined, pipes: [ParseIntPipe] },
        { index: 2, kind: 'payload', key: 'plain' },
      ]),
    );
    expect(params.find((param) => param.index === 2)).not.toHaveProperty('pipes');
  });

  it('fails at class definition on something that is not a pipe', () => {
    expect(() => Payload('id', 42 as unknown as PipeTransform)).toThrow('@Payload() takes a key and pipes');
  });
});

describe('resolveHandlerArguments with a payload key named like an Object.prototype member', () => {
  // An untyped parameter (design type Object) takes any value, so only the "is it there" check stands between a
  // client that leaves the key out and the handler receiving Object.prototype's function of that name.
  it('answers invalid_payload "required" when the client leaves the key out, whatever the key', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype)), (key) => {
        const definition = { ...handler([{ index: 0, kind: 'payload', key }], [Object]), upload: undefined };
        expect(() => resolveHandlerArguments(definition, { payload: {} })).toThrow(`payload.${key} is required.`);
      }),
    );
  });

  it('still takes the key when the client sends it', () => {
    const definition = { ...handler([{ index: 0, kind: 'payload', key: 'toString' }], [Object]), upload: undefined };
    expect(resolveHandlerArguments(definition, { payload: { toString: 'x' } })).toEqual(['x']);
  });
});

describe('@Payload with a key the wire refuses', () => {
  // parseInboundEvent refuses these keys anywhere in a payload, so a handler taking one could never be called.
  it.each(['__proto__', 'constructor', 'prototype'])('fails where the handler is declared, naming the key: %s', (key) => {
    expect(() => {
      class BadState {
        take(@Payload(key) _value: unknown): void {}
      }
      return BadState;
    }).toThrow(`@Payload('${key}')`);
  });
});
