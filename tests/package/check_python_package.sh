#!/usr/bin/env bash
# `pip install .` the way the README says, offline: a venv that sees
# Debian's packages (numpy, setuptools, wheel), --no-build-isolation. The
# source is copied first so that setuptools' build directory does not land in
# the checkout. Then a program in the venv uses the installed package.
#   check_python_package.sh SOURCE_DIR PYTHON
set -euo pipefail
src=$1
python=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/src"
tar --exclude=./build --exclude=./.git -C "$src" -cf - . | tar -C "$scratch/src" -xf -
"$python" -m venv --system-site-packages "$scratch/venv"
(cd "$scratch" && "$scratch/venv/bin/python" -m pip install --no-build-isolation --no-index \
  --quiet "$scratch/src")
cd "$scratch" # not the source tree, whose python/ could shadow the install
"$scratch/venv/bin/python" - <<'PY'
import numpy as np
import socketengine
from socketengine import hub

assert "/venv/" in socketengine.__file__, socketengine.__file__
with hub(port=0) as a, hub(port=0) as b:
    b.connect("pkg", "127.0.0.1", a.port).write_all("v", {"ok": True})
    frame = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    b.write_image_all(frame)
    assert a.wait_for("v", 10) == [{"ok": True}]
    peer = a.connections[0]
    assert np.array_equal(peer.wait_for("__image", 10), frame)
print("pip install . works:", socketengine.__file__)
PY
