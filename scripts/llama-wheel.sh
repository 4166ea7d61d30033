#!/usr/bin/env bash
# Build (once) and install a portable llama-cpp-python wheel for the embedded teacher.
#
# Why not plain `pip install llama-cpp-python`: pip compiles llama.cpp with -march=native, which on CPUs that
# advertise AMX (Sapphire Rapids and later) emits AMX kernels; inside VMs whose kernel does not grant AMX state the
# server then segfaults on its first completion. We build with GGML_NATIVE=OFF and AVX2/FMA/F16C instead, keep the
# wheel in a wheelhouse outside the checkout, and install it from there, so the 5-15 minute compile happens once
# per machine.
set -euo pipefail
PY=${1:-.venv/bin/python}
VERSION=${LLAMA_CPP_VERSION:-0.3.36}
WHEELHOUSE=${SXHUB_WHEELHOUSE:-$HOME/.cache/sxhub-wheels}
mkdir -p "$WHEELHOUSE"
wheel=$(ls "$WHEELHOUSE"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
  echo "llama-wheel: compiling llama-cpp-python $VERSION (portable CPU build, once per machine; minutes)..."
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON ${CMAKE_ARGS:-}" \
    "$PY" -m pip wheel --no-cache-dir --no-deps -w "$WHEELHOUSE" "llama-cpp-python==$VERSION"
  wheel=$(ls "$WHEELHOUSE"/llama_cpp_python-"$VERSION"-*.whl | head -n 1)
fi
echo "llama-wheel: installing $wheel"
# --force-reinstall: a same-version native build that pip cached earlier must not stay in place
"$PY" -m pip install --quiet --force-reinstall --no-deps "$wheel"
"$PY" -m pip install --quiet "${wheel}[server]"
