#!/usr/bin/env bash
# A side venv for the sentence-transformers ONNX baseline of `python -m optical_rerank.bench rerank`.
#
# sentence-transformers' `backend="onnx"` and `export_dynamic_quantized_onnx_model` need optimum-onnx,
# which requires transformers < 4.58, while this project's venv has transformers 5.x. So
# .venv-st-onnx gets sentence-transformers 5.x, transformers 4.57 and optimum-onnx (no other
# packages but datasets 4.0, which still accepts that huggingface_hub: everything else, torch and onnxruntime included, comes from the main venv through a
# .pth file listed after the side venv's own site-packages). The benchmark drives it as a
# long-lived worker (optical_rerank/bench/_st_worker.py).
#
#   bash scripts/setup_st_onnx.sh [MAIN_PYTHON]    (default .venv/bin/python, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
MAIN_PY="${1:-.venv/bin/python}"
[ -x "$MAIN_PY" ] || MAIN_PY="$(command -v python3)"
SIDE=.venv-st-onnx
MAIN_SITE="$("$MAIN_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$MAIN_PY" -m venv --without-pip "$SIDE" 2>/dev/null || "$MAIN_PY" -m venv "$SIDE"
SIDE_SITE="$("$SIDE/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$MAIN_SITE" > "$SIDE_SITE/_main_venv.pth"
"$SIDE/bin/python" -m pip --version >/dev/null 2>&1 || "$MAIN_PY" -m pip --python "$SIDE/bin/python" --version >/dev/null
"$MAIN_PY" -m pip --python "$SIDE/bin/python" install --quiet --ignore-installed --no-deps \
    "sentence-transformers>=5.1,<6" "transformers==4.57.6" "tokenizers==0.22.2" "huggingface_hub==0.36.2" \
    "optimum==2.1.0" "optimum-onnx==0.1.0" "datasets==4.0.0"
"$SIDE/bin/python" - <<'PY'
import optimum.onnxruntime, sentence_transformers, transformers
from sentence_transformers import export_dynamic_quantized_onnx_model
print("side venv ok:", "sentence-transformers", sentence_transformers.__version__, "transformers", transformers.__version__)
PY
