#!/usr/bin/env bash
# Runs the unit specs, and the e2e specs that lean hardest on Node's own internals, once more on the newest Node LTS.
#
# The suite runs on the machine's Node (20, the oldest the module supports). Users run newer ones, and Node's internals
# have moved under the module before: Node 24.15 changed how an emitter walks its listener array (socket clean-up
# skipped listeners), Node 25 added a process-wide `sessionStorage` (every client in a process took one token). This
# step catches the next such change. Node's build comes from the npm registry (`node-linux-<arch>`, the same binaries
# as nodejs.org, with their headers), cached in .tmp/; the specs run in a copy of the working tree (taken after the
# main run, whose build output makes the specs' own incremental builds quick) whose better-sqlite3, the one
# dependency built for one Node ABI, is rebuilt for it. The copy is removed afterwards; the working tree is left as it
# was.
#
# Usage: bash scripts/test-newest-node.sh [NODE_VERSION]   (scripts/test.sh runs it after `npm test`)
set -euo pipefail
cd "$(dirname "$0")/.."

# The newest Node LTS when this was written. Moving it is a deliberate change: a new Node can break the suite.
VERSION=${1:-26.12.1}

# The e2e specs whose subject is Node's own machinery: sockets and their listeners (connection counts, cut and
# hostile frames, control frames), streams and files (uploads, cancelled uploads, static files), module loading
# (codegen loading an app, the packed module installed in a fresh project), child processes and signals (the shop's
# cluster stopping), and one whole page in a browser (the shop, live lists, client storage events).
E2E_SPECS=(
  connections-per-address unfinished-messages hostile-clients websocket-control-frames
  uploads uploads-cancel spa-serving
  codegen-cli pack
  shop-cluster-sigterm
  foundation shop-browser live-list reflex-client-events
)

log() { printf '[test-newest-node] %s\n' "$*"; }

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) log "no Node build on npm for $(uname -m)"; exit 1 ;;
esac

root=$PWD
node_dir=$root/.tmp/node-$VERSION
copy=$root/.tmp/newest-node-tree

if [ ! -x "$node_dir/bin/node" ]; then
  log "fetching node-linux-$arch@$VERSION from the npm registry"
  mkdir -p "$node_dir"
  tarball=$(npm pack "node-linux-$arch@$VERSION" --pack-destination "$root/.tmp" --silent | tail -n 1)
  tar -xzf "$root/.tmp/$tarball" -C "$node_dir" --strip-components=1
  rm -f "$root/.tmp/$tarball"
fi

trap 'rm -rf "$copy"' EXIT
rm -rf "$copy"
mkdir -p "$copy"
log "copying the working tree to $copy"
tar --exclude=./.git --exclude=./.tmp -cf - . | tar -xf - -C "$copy"
cd "$copy"

export PATH="$node_dir/bin:$PATH"
log "on Node $(node --version): rebuilding better-sqlite3 for it"
JOBS=max npm_config_nodedir="$node_dir" npm rebuild better-sqlite3 --silent

log "unit specs on Node $(node --version)"
npm run test:unit
log "e2e specs on Node $(node --version): ${E2E_SPECS[*]}"
patterns=()
for spec in "${E2E_SPECS[@]}"; do patterns+=("test/$spec.e2e-spec.ts"); done
npm run test:e2e -- "${patterns[@]}"
