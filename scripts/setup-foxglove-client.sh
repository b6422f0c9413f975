#!/usr/bin/env bash
# Installs the Foxglove WebSocket client (@foxglove/ws-protocol) and the `ws`
# WebSocket implementation it runs on into DIR/node_modules, for the tests of
# `socketengine view` to speak Foxglove's protocol with a client that is not
# ours. Idempotent: an installed set is left as it is, so a second run
# finishes in well under a second.
#
#   scripts/setup-foxglove-client.sh DIR
#
# Runs `node` and `npm` from PATH, or the programs named by $NODE and $NPM.
#
# Node 20 has no global WebSocket without a flag, so the client is handed a
# socket from `ws`. Every package installed is pinned, the dependencies of
# @foxglove/ws-protocol too (debug, ms, eventemitter3, tslib): without a lock
# file, their ranges would otherwise resolve to whatever the registry holds
# on the day. They are all direct dependencies of DIR/package.json, which
# this script owns and rewrites, and they are installed by one plain
# `npm install`: npm prunes whatever package.json does not name, so
# packages installed one at a time with --no-save would remove each other.
set -euo pipefail

# name@version, one for each package under node_modules.
readonly packages=(
  @foxglove/ws-protocol@0.8.0
  ws@8.23.1
  debug@4.4.3
  ms@2.1.3
  eventemitter3@5.0.4
  tslib@2.9.1
)

die() {
  echo "setup-foxglove-client: error: $*" >&2
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

name_of() { echo "${1%@*}"; }
version_of() { echo "${1##*@}"; }

# The packages of the list that are missing or installed in another
# version, one a line; one node for all of them keeps a second run fast.
missing() {
  "$node" -e '
    const fs = require("fs");
    for (const p of process.argv.slice(2)) {
      const at = p.lastIndexOf("@");
      let version;
      try {
        const manifest = process.argv[1] + "/" + p.slice(0, at) + "/package.json";
        version = JSON.parse(fs.readFileSync(manifest, "utf8")).version;
      } catch {}
      if (version !== p.slice(at + 1)) console.log(p);
    }
  ' "$modules" "${packages[@]}"
}

# Node loads both as the client does (CommonJS, through createRequire from
# DIR): catches a broken install or a Node too old for the packages here
# rather than as a confusing test failure.
loads() {
  "$node" -e '
    const req = require("module").createRequire(process.argv[1] + "/");
    if (typeof req("@foxglove/ws-protocol").FoxgloveClient !== "function")
      throw new Error("@foxglove/ws-protocol has no FoxgloveClient");
    if (typeof req("ws").WebSocket !== "function") throw new Error("ws has no WebSocket");
  ' "$dir"
}

if [[ -z $(missing) ]]; then
  loads || die "the packages in $modules are present but node cannot load them"
  echo "setup-foxglove-client: ${packages[*]} already installed in $modules"
  exit 0
fi

# Rewritten each time, so a change to the pins above takes effect. Without
# a package.json of its own, npm would also walk up the tree looking for a
# project to install into, and could land in the source tree.
{
  printf '{\n  "name": "socketengine-foxglove-client",\n  "private": true,\n'
  printf '  "dependencies": {\n'
  for i in "${!packages[@]}"; do
    p=${packages[i]}
    sep=,
    ((i + 1 == ${#packages[@]})) && sep=
    printf '    "%s": "%s"%s\n' "$(name_of "$p")" "$(version_of "$p")" "$sep"
  done
  printf '  }\n}\n'
} >"$dir/package.json" || die "cannot write $dir/package.json"

echo "setup-foxglove-client: installing ${packages[*]} into $modules"
(cd "$dir" && "$npm" install --no-package-lock --no-audit --no-fund --loglevel=error) ||
  die "npm install failed in $dir (is the npm registry reachable?)"

wrong=$(missing)
[[ -z $wrong ]] ||
  die "npm reported success but these are missing or another version in $modules: ${wrong//$'\n'/ }"
loads || die "node cannot load @foxglove/ws-protocol and ws from $modules"

echo "setup-foxglove-client: ${packages[*]} ready in $modules"
