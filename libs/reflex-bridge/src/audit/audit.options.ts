import { InvalidOptionError } from '../invalid-option.error.js';

/**
 * What the startup security review does: `'warn'` logs each finding, `'strict'` refuses to start while any
 * finding is left, `'off'` skips the review.
 */
export type AuditMode = 'warn' | 'strict' | 'off';

const AUDIT_MODES: readonly AuditMode[] = ['warn', 'strict', 'off'];

/** The `audit` option with its default: `'warn'` in production, `'off'` otherwise. */
export function resolveAuditMode(value: unknown, production: boolean): AuditMode {
  if (value === undefined) return production ? 'warn' : 'off';
  if (typeof value !== 'string' || !AUDIT_MODES.includes(value as AuditMode)) {
    throw new InvalidOptionError('audit', `expected "warn", "strict" or "off", got ${JSON.stringify(value)}`);
  }
  return value as AuditMode;
}

/** The `workers` option: how many processes serve the app (at least 1). */
export function resolveWorkers(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError('workers', `expected a whole number of processes ≥ 1, got ${JSON.stringify(value)}`);
  }
  return value;
}
