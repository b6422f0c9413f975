"""pip install . : builds socketengine._core with CMake and installs the
socketengine package (python/socketengine/) around it.

Offline, with Debian's setuptools and wheel:
    python3 -m venv --system-site-packages venv
    venv/bin/python -m pip install --no-build-isolation .
Needs what scripts/setup.sh installs (a C++20 compiler, CMake, Ninja,
pybind11-dev, python3-dev and the library's own dependencies).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def project_version():
    text = (ROOT / "CMakeLists.txt").read_text()
    return re.search(r"project\(socketengine VERSION ([0-9.]+)", text).group(1)


class cmake_extension(Extension):
    def __init__(self, name, target):
        super().__init__(name, sources=[])
        self.target = target


class cmake_build(build_ext):
    """Configures the whole project with only the Python module on, builds
    the module's target and puts the result where setuptools expects it."""

    def build_extension(self, ext):
        build_dir = Path(self.build_temp).resolve() / "cmake"
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DSOCKETENGINE_BUILD_PYTHON=ON",
            "-DSOCKETENGINE_BUILD_TESTS=OFF",
            "-DSOCKETENGINE_BUILD_EXAMPLES=OFF",
            "-DSOCKETENGINE_BUILD_BENCHMARKS=OFF",
            # The interpreter running pip (a venv's python is fine).
            "-DPython3_EXECUTABLE=" + sys.executable,
        ]
        if shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        subprocess.run(configure, check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", ext.target,
                        "--parallel", str(os.cpu_count() or 1)], check=True)
        built = next((build_dir / "python" / "socketengine").glob("_core*.so"), None)
        if built is None:
            raise RuntimeError("the CMake build made no socketengine._core in " + str(build_dir))
        destination = Path(self.get_ext_fullpath(ext.name))
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, destination)


setup(
    name="socketengine",
    version=project_version(),
    description="socket.engine 0.3's Python API on a C++20 engine",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    install_requires=["numpy"],
    packages=["socketengine"],
    package_dir={"": "python"},
    ext_modules=[cmake_extension("socketengine._core", "socketengine_python")],
    cmdclass={"build_ext": cmake_build},
    zip_safe=False,
)
