import { setFlagsFromString } from 'node:v8';
import { runInThisContext } from 'node:vm';

// V8's own test, which only code compiled with this flag may call.
setFlagsFromString('--allow-natives-syntax');

/**
 * Whether V8 holds `value` as a small integer (a Smi), which an object keeps inside itself: any other number is an
 * object of its own (16 bytes), held by every object that keeps one, such as a time kept per idle connection.
 */
export const isSmallInteger = runInThisContext('(function isSmallInteger(value) { return %IsSmi(value); })') as (value: unknown) => boolean;
