import type { SecurityFinding } from './security-finding.js';
import { describeFinding } from './security-finding.catalog.js';

/**
 * Thrown at startup with `audit: 'strict'` when the security audit found anything: the app does not start. The
 * message lists every finding; `findings` holds them.
 * @publicApi
 */
export class SecurityAuditError extends Error {
  constructor(readonly findings: readonly SecurityFinding[]) {
    super(
      `ReflexBridgeModule: the security audit (audit: 'strict') refuses to start with ${findings.length} finding${findings.length === 1 ? '' : 's'}:\n` +
        findings.map((finding) => `- ${describeFinding(finding)}`).join('\n'),
    );
    this.name = 'SecurityAuditError';
  }
}
