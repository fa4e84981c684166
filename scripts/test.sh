#!/usr/bin/env bash
# The project's test command (README): installs what is missing (Debian packages for the real servers the e2e
# specs start, npm dependencies), then runs type-check, lint, unit and e2e specs on the machine's Node, and the unit
# specs and the e2e specs closest to Node's internals once more on the newest Node LTS (scripts/test-newest-node.sh).
# For a subset: `npm run test:unit -- <pattern>` or `npm run test:e2e -- <pattern>`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
npm test
bash scripts/test-newest-node.sh
