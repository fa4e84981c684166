import { describe, expect, it } from '@jest/globals';
import { plainRecord } from './plain-record.js';

describe('plainRecord', () => {
  it('makes plain objects: Object.prototype, own enumerable keys, JSON and structuredClone as usual', () => {
    const record = plainRecord<string>();
    record['b'] = '2';
    record['a'] = '1';
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    expect(Object.keys(record)).toEqual(['b', 'a']);
    expect(JSON.stringify(record)).toBe('{"b":"2","a":"1"}');
    expect(structuredClone(record)).toEqual({ b: '2', a: '1' });
    expect(record).toEqual({ a: '1', b: '2' });
    expect(plainRecord()).not.toBe(plainRecord());
  });
});
