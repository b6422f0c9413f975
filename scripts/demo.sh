#!/usr/bin/env bash
# Builds the README's examples (release preset) and runs them in pairs over
# loopback, as the README's "Computer 1" and "Computer 2" would: hub_listen
# with hub_dial, then host with client, then a camera streaming frames to a
# viewer, over TCP and then over a Unix domain socket. Each pair uses a port
# the system picks (or a socket file of its own), and everything each
# program prints is shown, labelled with the program and stream. Then the socket.engine 0.3 README's own Python
# examples run, unchanged but for the port, on the socketengine Python
# module, and last the command line: `socketengine listen` printing what
# `socketengine send` writes. Exits non-zero if any pair fails.
#
# Assumes the dependencies are installed (sudo bash scripts/setup.sh).
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd -- "$root"

echo "== building the examples (cmake --preset release)"
cmake --preset release >/dev/null
cmake --build --preset release \
  --target example_hub_listen example_hub_dial example_host example_client \
  example_viewer example_camera socketengine_python socketengine_cli
bin=build/release/examples

status=0
echo
echo "== hub: hub_listen (Computer 1) waits for a hub, writes \"test\"; hub_dial (Computer 2) prints get_all(\"test\")"
bash examples/run_pair.sh --show --dialer-prints '["hubs are connected"]' \
  "$bin/hub_listen" "$bin/hub_dial" || status=1

echo
echo "== host/client: host prints what client writes on \"test\""
bash examples/run_pair.sh --show --listener-prints 'client is connected!' \
  "$bin/host" "$bin/client" || status=1

echo
echo "== images: camera sends 30 frames of 640x480 as PNG, one in flight; viewer counts them"
bash examples/run_pair.sh --show \
  --listener-prints 'viewer: 30 frames from "camera", the last 640x480 with 3 channels' \
  --dialer-prints 'camera: sent 30 frames, the viewer received 30' \
  "$bin/viewer" "$bin/camera" || status=1

echo
echo "== images over a Unix domain socket: the same pair through a socket file (unix:PATH)"
bash examples/run_pair.sh --show --unix \
  --listener-prints 'viewer: 30 frames from "camera", the last 640x480 with 3 channels' \
  --dialer-prints 'camera: sent 30 frames, the viewer received 30' \
  "$bin/viewer" "$bin/camera" || status=1

# Runs one of the original README's Python pairs (python/tests/seed_examples)
# with Debian's interpreter and the module just built: LISTENER in the
# background, then DIALER; shows their output and checks each one's stdout.
seed_pair() {
  local listener=$1 listener_expect=$2 dialer=$3 dialer_expect=$4
  local dir=python/tests/seed_examples work
  work=$(mktemp -d)
  export PYTHONPATH=build/release/python SEED_EXAMPLE_WAIT=10
  SEED_EXAMPLE_PORT=$(/usr/bin/python3 -c \
    'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export SEED_EXAMPLE_PORT
  timeout 30 /usr/bin/python3 "$dir/$listener" >"$work/l.out" 2>"$work/l.err" &
  local pid=$!
  timeout 30 /usr/bin/python3 "$dir/$dialer" >"$work/d.out" 2>"$work/d.err"
  local dialer_status=$?
  wait "$pid"
  local listener_status=$?
  sed "s/^/  $listener: /" "$work/l.out" "$work/l.err"
  sed "s/^/  $dialer: /" "$work/d.out" "$work/d.err"
  local ok=0
  [[ $listener_status == 0 && $dialer_status == 0 ]] || ok=1
  [[ "$(cat "$work/l.out")" == "$listener_expect" ]] || ok=1
  [[ "$(cat "$work/d.out")" == "$dialer_expect" ]] || ok=1
  rm -rf "$work"
  return "$ok"
}

echo
echo "== python: the original README's hub examples, Computer 1 and Computer 2, on the socketengine module"
seed_pair hub_computer1.py "" hub_computer2.py "['hubs are connected']" || status=1

echo
echo "== python: the original README's host and client examples"
seed_pair host.py "client is connected!" client.py "" || status=1

# The command line: `socketengine listen` prints what two `socketengine
# send` calls write to it.
cli_pair() {
  local cli=build/release/cli/socketengine work port=""
  work=$(mktemp -d)
  timeout 30 "$cli" listen --port 0 --count 2 >"$work/l.out" 2>"$work/l.err" &
  local pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on port \([0-9]*\)$/\1/p' "$work/l.err")
    [[ -n "$port" ]] && break
    sleep 0.1
  done
  local ok=0
  echo "  \$ socketengine send $port speed 3.5 --name robot"
  timeout 30 "$cli" send "$port" speed 3.5 --name robot || ok=1
  echo "  \$ socketengine send $port pose '{\"x\": 1.5, \"y\": 2}' --name robot"
  timeout 30 "$cli" send "$port" pose '{"x": 1.5, "y": 2}' --name robot || ok=1
  wait "$pid" || ok=1
  sed "s/^/  socketengine listen: /" "$work/l.err" "$work/l.out"
  [[ "$(cat "$work/l.out")" == $'robot speed 3.5\nrobot pose {"x":1.5,"y":2}' ]] || ok=1
  rm -rf "$work"
  return "$ok"
}

echo
echo "== command line: socketengine listen prints what socketengine send writes"
cli_pair || status=1

echo
if ((status)); then
  echo "demo: FAILED" >&2
else
  echo "demo: all seven pairs talked"
fi
exit "$status"
