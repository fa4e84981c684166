import { accessSync, constants as fsConstants } from 'node:fs';

/** Debian's Chromium (`bash scripts/install-test-deps.sh` installs it), or CHROMIUM_BIN. */
export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

/**
 * Flags for a headless Chromium on a machine without network: the background-networking ones keep it from
 * calling out at every start (its connections are refused here, many at a time).
 */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Why the browser specs cannot run here, or `undefined` when Chromium is installed. */
export function chromiumMissing(): string | undefined {
  try {
    accessSync(CHROMIUM_BIN, fsConstants.X_OK);
    return undefined;
  } catch {
    return `Chromium not found at ${CHROMIUM_BIN}; run \`bash scripts/install-test-deps.sh\` (or \`apt-get install -y chromium\`, or set CHROMIUM_BIN)`;
  }
}
