#!/usr/bin/env bash
# Developer build: compiles the extension in place (python/inferplan/_core*.so)
# and places the C library and its header where an installed package has them
# (python/inferplan/lib/, python/inferplan/include/), so that
# `PYTHONPATH=python pytest` runs against the working tree without a reinstall.
# Users and CI install with `pip install ".[all]"` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${INFERPLAN_BUILD_DIR:-build/dev}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" \
  -DPython_EXECUTABLE="$(command -v python)" >/dev/null
cmake --build "$build" -j2
cp "$build"/_core*.so python/inferplan/
mkdir -p python/inferplan/lib python/inferplan/include
cp "$build"/libinferplan.* python/inferplan/lib/
cp cpp/capi/inferplan.h python/inferplan/include/
