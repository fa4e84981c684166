#!/usr/bin/env bash
# Installs what `npm run bench` needs beyond the npm dependencies, and only what is missing:
#   - redis-server, for the Redis-backed benchmarks (fast-auth, state-store, live-latency);
#   - python3-socketio, python3-uvicorn and python3-django, for the reflex-django peer of `tiers`
#     (bench/peers/reflex_django_core.py runs on Debian's /usr/bin/python3 with these packages);
#   - valgrind, for bench/dist/tools/instructions-per-event.js (instructions per event under callgrind).
# Without them those figures read "not available" / "skipped" outside CI; under CI=true a missing peer fails the run.
# The install itself is scripts/install-test-deps.sh's (idempotent; keeps the packages' services from starting).
#
# Environment:
#   BENCH_DEBIAN_PACKAGES  space-separated list overriding the Debian packages (default below)
#   SKIP_APT=1             skip them (e.g. on a machine without apt)
set -euo pipefail

cd "$(dirname "$0")/.."

TEST_DEBIAN_PACKAGES=${BENCH_DEBIAN_PACKAGES:-"redis-server python3-socketio python3-uvicorn python3-django valgrind"} \
  SKIP_NPM=1 bash scripts/install-test-deps.sh
