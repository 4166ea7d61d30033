#!/usr/bin/env bash
# Build the separate AutoTrain venv (.venv-autotrain at the repo root, or $SXHUB_AUTOTRAIN_ENV).
#
# Why a venv of its own: autotrain-advanced 0.8.36 pins transformers 4.48 / datasets 3.2 / huggingface_hub 0.27,
# which cannot live beside sxhub's transformers 5. sxhub runs `autotrain` from this venv as a subprocess.
# torch is pinned to the CPU wheel in the same pip command (any other spec pulls a multi-GB CUDA build);
# torchvision and timm are removed afterwards (they only serve the image tasks and fail to import against it).
# Idempotent: a stamp file records a finished build; delete the venv to rebuild.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SXHUB_AUTOTRAIN_ENV:-$ROOT/.venv-autotrain}"
AUTOTRAIN_VERSION="0.8.36"
TORCH_VERSION="2.13.0"
STAMP="$VENV/.sxhub-autotrain-$AUTOTRAIN_VERSION-torch-$TORCH_VERSION"
PYTHON="${PYTHON:-python3}"

fail() {
    echo "autotrain-env: ERROR: $*" >&2
    exit 1
}

if [[ -f "$STAMP" ]]; then
    echo "autotrain-env: $VENV is already built (stamp $(basename "$STAMP")); delete it to rebuild."
    exit 0
fi

echo "autotrain-env: creating venv $VENV with $PYTHON"
"$PYTHON" -m venv "$VENV" || fail "could not create $VENV (is python3-venv installed?)"

echo "autotrain-env: installing autotrain-advanced==$AUTOTRAIN_VERSION torch==$TORCH_VERSION (takes minutes)"
"$VENV/bin/pip" install --quiet --upgrade pip || fail "could not upgrade pip in $VENV"
"$VENV/bin/pip" install "autotrain-advanced==$AUTOTRAIN_VERSION" "torch==$TORCH_VERSION" \
    || fail "pip install autotrain-advanced==$AUTOTRAIN_VERSION torch==$TORCH_VERSION failed (see above)"

echo "autotrain-env: removing torchvision and timm (image-only extras that break against the pinned torch)"
"$VENV/bin/pip" uninstall -y torchvision timm || fail "pip uninstall torchvision timm failed"

echo "autotrain-env: checking that the text-classification trainer imports"
"$VENV/bin/python" -c "import autotrain.trainers.text_classification.__main__" \
    || fail "autotrain's text classifier does not import in $VENV (see the traceback above)"
"$VENV/bin/autotrain" --version || fail "$VENV/bin/autotrain --version failed"

touch "$STAMP"
echo "autotrain-env: done: $VENV/bin/autotrain"
