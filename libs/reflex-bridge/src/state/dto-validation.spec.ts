import { describe, expect, it } from '@jest/globals';
import { IsInt, IsString, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { BridgeError } from '../protocol/bridge-error.js';
import { validateDto } from './dto-validation.js';
import { DETAIL_CHARS, MAX_DETAILS } from './refusal-details.js';

class LineDto {
  @IsInt()
  quantity!: number;
}

class OrderDto {
  @IsString()
  note!: string;

  @ValidateNested({ each: true })
  @Type(() => LineDto)
  lines!: LineDto[];
}

async function refusalOf(value: object): Promise<BridgeError> {
  try {
    await validateDto(OrderDto, value, 'order');
  } catch (error) {
    return error as BridgeError;
  }
  throw new Error('the DTO was valid');
}

describe('validateDto', () => {
  it('gives back the DTO instance of a valid payload', async () => {
    await expect(validateDto(OrderDto, { note: 'x', lines: [{ quantity: 2 }] }, 'order')).resolves.toBeInstanceOf(OrderDto);
  });

  it('names each failed constraint by its path', async () => {
    const refusal = await refusalOf({ note: 1, lines: [{ quantity: 'two' }] });
    expect(refusal).toMatchObject({ code: 'invalid_payload', message: 'order failed validation.' });
    expect(refusal.details).toEqual(['note: note must be a string', 'lines.0.quantity: quantity must be an integer number']);
  });

  it('lists at most 20 failed constraints, each cut to 300 characters, however many the payload fails', async () => {
    // 9,000 unknown keys made a 367 kB answer to an 89 kB event: the sender chose how large its answer was.
    const unknown = Object.fromEntries(Array.from({ length: 9_000 }, (_, i) => [`k${i}_${'x'.repeat(400)}`, 0]));
    const refusal = await refusalOf({ note: 'x', lines: Array.from({ length: 500 }, () => ({ quantity: 'no' })), ...unknown });
    expect(refusal.details).toHaveLength(MAX_DETAILS);
    expect(Math.max(...refusal.details!.map((detail) => detail.length))).toBeLessThanOrEqual(DETAIL_CHARS);
  });
});
