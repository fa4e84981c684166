import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeFinding, securityFinding, securityFindingCodes } from './security-finding.catalog.js';

const securityDoc = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'docs', 'security.md'), 'utf8');

describe('the security findings catalogue', () => {
  it('gives every code a reason, a fix and an option', () => {
    for (const code of securityFindingCodes()) {
      const finding = securityFinding(code, 'Something is wrong');
      expect(finding.why.length).toBeGreaterThan(20);
      expect(finding.fix.length).toBeGreaterThan(10);
      expect(finding.option.length).toBeGreaterThan(2);
      expect(describeFinding(finding)).toMatch(new RegExp(`^\\[${code}\\] Something is wrong\\. Why: .+\\. Fix: .+ \\(.+\\)\\.$`));
    }
  });

  it('is documented code by code in docs/security.md', () => {
    const undocumented = securityFindingCodes().filter((code) => !securityDoc.includes(`| \`${code}\` |`));
    expect(undocumented).toEqual([]);
  });
});
