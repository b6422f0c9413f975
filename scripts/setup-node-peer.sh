#!/usr/bin/env bash
# Installs the published Node.js socket.engine 0.3.0 package into DIR/node_modules,
# for the interop tests to run against. Idempotent: an installed peer is left
# as it is, so a second run finishes in well under a second.
#
#   scripts/setup-node-peer.sh DIR
#
# Runs `node` and `npm` from PATH, or the programs named by $NODE and $NPM.
#
# socket.engine declares three dependencies: `ip` (real) and `fs` and `net`,
# which are placeholders missing from the registry; Node's built-in modules of
# those names are what the package actually uses. `npm install` of the package
# itself would try to resolve the placeholders and fail, so the tarball is
# fetched with `npm pack` and unpacked by hand, and only `ip` is installed.
set -euo pipefail

readonly version=0.3.0

die() {
  echo "setup-node-peer: error: $*" >&2
  exit 1
}

(($# == 1)) || die "usage: $0 DIR"
node=${NODE:-node}
npm=${NPM:-npm}
command -v "$node" >/dev/null || die "node ($node) not found"
command -v "$npm" >/dev/null || die "npm ($npm) not found"

mkdir -p "$1" || die "cannot create $1"
dir=$(cd "$1" && pwd)
modules=$dir/node_modules

engine_installed() {
  local manifest=$modules/socket.engine/package.json
  [[ -f $manifest ]] &&
    [[ $("$node" -p 'require(process.argv[1]).version' "$manifest" 2>/dev/null) == "$version" ]]
}

ip_installed() { [[ -f $modules/ip/package.json ]]; }

if engine_installed && ip_installed; then
  echo "setup-node-peer: socket.engine@$version already installed in $modules"
  exit 0
fi

# Without a package.json of its own, npm walks up the tree looking for a
# project to install into, and could land in the source tree.
if [[ ! -f $dir/package.json ]]; then
  printf '{\n  "name": "socketengine-node-peer",\n  "private": true\n}\n' >"$dir/package.json"
fi

# ip first: npm prunes packages it did not install, which would remove a
# socket.engine unpacked before it.
if ! ip_installed; then
  echo "setup-node-peer: installing ip@1 into $modules"
  (cd "$dir" &&
    "$npm" install ip@1 --no-save --no-package-lock --no-audit --no-fund --loglevel=error) ||
    die "npm install ip@1 failed in $dir (is the npm registry reachable?)"
  ip_installed || die "npm reported success but $modules/ip is missing"
fi

if ! engine_installed; then
  echo "setup-node-peer: installing socket.engine@$version into $modules"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && "$npm" pack "socket.engine@$version" --silent >/dev/null) ||
    die "npm pack socket.engine@$version failed (is the npm registry reachable?)"
  tarball=("$tmp"/socket.engine-*.tgz)
  [[ -f ${tarball[0]} ]] || die "npm pack produced no tarball"
  mkdir "$tmp/unpacked"
  tar -xzf "${tarball[0]}" -C "$tmp/unpacked" || die "cannot unpack ${tarball[0]}"
  [[ -f $tmp/unpacked/package/package.json ]] || die "unexpected tarball layout"
  # Moved into place whole, so an interrupted run never leaves a
  # half-unpacked package that would pass the check above.
  rm -rf "$modules/socket.engine"
  mkdir -p "$modules"
  mv "$tmp/unpacked/package" "$modules/socket.engine"
  engine_installed || die "socket.engine@$version did not install correctly in $modules"
fi

# A last check that Node can load it: catches a broken `ip` or a Node too old
# for the package's syntax here rather than as a confusing test failure.
NODE_PATH=$modules "$node" -e 'require("socket.engine")' ||
  die "node cannot load socket.engine from $modules"

echo "setup-node-peer: socket.engine@$version ready in $modules"
