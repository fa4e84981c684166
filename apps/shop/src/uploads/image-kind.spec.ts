import { describe, expect, it } from '@jest/globals';
import { imageKindOf } from './image-kind.js';

const bytes = (...values: Array<number | string>) =>
  new Uint8Array(values.flatMap((value) => (typeof value === 'string' ? [...Buffer.from(value, 'latin1')] : [value])));

describe('imageKindOf', () => {
  it('tells PNG, JPEG, GIF and WebP by their first bytes', () => {
    expect(imageKindOf(bytes(0x89, 'PNG\r\n', 0x1a, 0x0a, 0, 0, 0, 13))).toBe('png');
    expect(imageKindOf(bytes(0xff, 0xd8, 0xff, 0xe0))).toBe('jpg');
    expect(imageKindOf(bytes('GIF89a'))).toBe('gif');
    expect(imageKindOf(bytes('GIF87a'))).toBe('gif');
    expect(imageKindOf(bytes('RIFF', 1, 2, 3, 4, 'WEBPVP8 '))).toBe('webp');
  });

  it('refuses anything else, including truncated signatures and other RIFF files', () => {
    expect(imageKindOf(bytes('<svg xmlns="http://www.w3.org/2000/svg">'))).toBeUndefined();
    expect(imageKindOf(bytes('<html>'))).toBeUndefined();
    expect(imageKindOf(bytes(0x89, 'PNG'))).toBeUndefined();
    expect(imageKindOf(bytes('GIF8'))).toBeUndefined();
    expect(imageKindOf(bytes('RIFF', 1, 2, 3, 4, 'WAVE'))).toBeUndefined();
    expect(imageKindOf(new Uint8Array(0))).toBeUndefined();
  });
});
