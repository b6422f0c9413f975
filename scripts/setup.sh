#!/usr/bin/env bash
# Installs everything socketengine needs to build, test and run its demo on
# Debian bookworm. Idempotent: packages already present are skipped, so a
# second run finishes in seconds. Must run as root (or via sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  # A compiler cache: the test presets rebuild the same sources, and CI
  # starts from a clean clone.
  ccache
  libasio-dev nlohmann-json3-dev libspng-dev
  googletest libgtest-dev libgmock-dev
  nodejs npm
  # Third-party codec for the image interop tests (used with /usr/bin/python3,
  # not the pyenv interpreter that may come first on PATH), and OpenCV's core
  # for the cv::Mat adapter and its test.
  python3 python3-numpy python3-opencv libopencv-core-dev
  # The Python module (built for /usr/bin/python3), its tests, and
  # `pip install .` offline into a venv with Debian's setuptools and wheel.
  python3-dev pybind11-dev python3-pytest python3-venv python3-pip
  python3-setuptools python3-wheel
  # The native protocol's JPEG images, and ZeroMQ for the side-by-side
  # benchmark (socketengine-bench).
  libturbojpeg0-dev libzmq3-dev
  # The fuzz targets (scripts/fuzz.sh): clang with libFuzzer.
  clang-14 libfuzzer-14-dev
  # Token authentication (HMAC-SHA256, constant-time compare, nonces) and
  # TLS; the tests make their certificates with the openssl command.
  libssl-dev openssl
  # The socketengine command line: its argument parsing and its output.
  libcli11-dev libfmt-dev
  # Its browser viewer: HTTP and WebSocket from Boost.Beast (Boost's
  # headers); its tests drive headless Chromium over the DevTools protocol
  # with python3-websocket.
  libboost-dev chromium python3-websocket
  # bench/python_bench.py measures pyzmq (and imagezmq's pattern on it),
  # what a Python user would pick instead, in the same run.
  python3-zmq
  # The MQTT bridge: libmosquitto, and a real broker and its command-line
  # clients for the bridge's tests.
  libmosquitto-dev mosquitto mosquitto-clients
  # LAN discovery's tests: network namespaces joined by veth pairs.
  iproute2
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# node and npm may come from outside Debian on some images; accept those.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do
    [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p")
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
