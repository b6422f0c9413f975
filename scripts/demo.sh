#!/usr/bin/env bash
# Builds the README's examples (release preset) and runs them in pairs over
# loopback, as the README's "Computer 1" and "Computer 2" would: hub_listen
# with hub_dial, then host with client, then a camera streaming frames to a
# viewer. Each pair uses a port the system
# picks, and everything each program prints is shown, labelled with the
# program and stream. Exits non-zero if either pair fails.
#
# Assumes the dependencies are installed (sudo bash scripts/setup.sh).
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd -- "$root"

echo "== building the examples (cmake --preset release)"
cmake --preset release >/dev/null
cmake --build --preset release \
  --target example_hub_listen example_hub_dial example_host example_client \
  example_viewer example_camera
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
if ((status)); then
  echo "demo: FAILED" >&2
else
  echo "demo: all three pairs talked"
fi
exit "$status"
