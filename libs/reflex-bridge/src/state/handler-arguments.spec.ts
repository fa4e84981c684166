import { describe, expect, it } from '@jest/globals';
import { BridgeError } from '../protocol/bridge-error.js';
import { resolveHandlerArguments } from './handler-arguments.js';
import type { HandlerDefinition } from './state-definition.js';

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
