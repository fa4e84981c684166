#!/usr/bin/env bash
# Installs what the test suite needs, and only what is missing, so it is cheap to run again:
#   - the real servers the e2e specs start on loopback (Debian packages: redis-server, postgresql, pgbouncer, nginx,
#     chromium; under CI=true a spec whose server is missing fails);
#   - the tools node-gyp needs (python3, make, g++): `npm ci` builds better-sqlite3 from source when its prebuilt
#     binary cannot be downloaded (no route to GitHub, a Node it ships none for), and a fresh Debian has none of them;
#   - the npm dependencies (`npm ci` from the lockfile, `npm install` when there is none).
# The specs start their own server processes on free ports; the system services these packages ship are kept
# from starting (policy-rc.d) so nothing is left bound to the default ports.
#
# Environment:
#   TEST_DEBIAN_PACKAGES  space-separated list overriding the Debian packages (default below)
#   SKIP_APT=1            skip the Debian packages (e.g. on a machine without apt)
#   SKIP_NPM=1            skip the npm step
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf '[install-test-deps] %s\n' "$*"; }

# A package counts as present when dpkg says it is installed.
DEBIAN_PACKAGES=${TEST_DEBIAN_PACKAGES:-"redis-server postgresql pgbouncer nginx chromium python3 make g++"}

is_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

install_debian_packages() {
  if [ "${SKIP_APT:-}" = "1" ]; then
    log "SKIP_APT=1: not installing Debian packages"
    return
  fi
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    log "no apt-get/dpkg here: install ${DEBIAN_PACKAGES} yourself (the e2e specs need them)"
    [ "${CI:-}" = "true" ] && { log "CI=true: cannot continue without them"; exit 1; }
    return
  fi

  local missing=()
  local pkg
  for pkg in $DEBIAN_PACKAGES; do
    is_installed "$pkg" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "Debian packages already installed: ${DEBIAN_PACKAGES}"
    return
  fi

  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      log "not root and no sudo: install ${missing[*]} yourself"
      [ "${CI:-}" = "true" ] && exit 1
      return
    fi
  fi

  # Keep the packages' own services (nginx on :80, redis on :6379, the postgresql cluster on :5432) from being
  # started by their postinst scripts: the tests run their own instances. An existing policy is left as it is.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, written by scripts/install-test-deps.sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    own_policy=1
    # shellcheck disable=SC2064 # expand now: the trap must remove exactly this file
    trap "${sudo[*]} rm -f '$policy'" EXIT
  fi

  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

  if [ "$own_policy" = "1" ]; then
    "${sudo[@]}" rm -f "$policy"
    trap - EXIT
  fi

  # A policy that was already there might have allowed the start: stop what was just installed, if it runs.
  local svc
  for pkg in "${missing[@]}"; do
    case "$pkg" in
      nginx) svc=nginx ;;
      redis-server) svc=redis-server ;;
      postgresql*) svc=postgresql ;;
      *) continue ;;
    esac
    if command -v service >/dev/null 2>&1 && "${sudo[@]}" service "$svc" status >/dev/null 2>&1; then
      log "stopping the system ${svc} service that the package started"
      "${sudo[@]}" service "$svc" stop >/dev/null 2>&1 || true
    fi
  done

  for pkg in "${missing[@]}"; do
    is_installed "$pkg" || { log "failed to install ${pkg}"; exit 1; }
  done
}

install_npm_dependencies() {
  if [ "${SKIP_NPM:-}" = "1" ]; then
    log "SKIP_NPM=1: not installing npm dependencies"
    return
  fi
  if [ -f package-lock.json ]; then
    # npm ci starts from an empty node_modules every time (minutes when better-sqlite3 has to build from source). Outside CI,
    # skip it while node_modules was installed by this script from the same lockfile.
    local stamp=node_modules/.install-test-deps.lock-sha256 want
    want=$(sha256sum package-lock.json | cut -d' ' -f1)
    if [ "${CI:-}" != "true" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
      log "node_modules already installed from this package-lock.json"
      return
    fi
    log "npm ci"
    npm ci --no-audit --no-fund
    printf '%s\n' "$want" >node_modules/.install-test-deps.lock-sha256
  else
    log "no package-lock.json: npm install"
    npm install --no-audit --no-fund
  fi
}

install_debian_packages
install_npm_dependencies
log "done"
