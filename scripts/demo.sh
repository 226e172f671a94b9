#!/usr/bin/env bash
# README command 1's main job: the OPTICAL pipeline on real AfriQA data, offline, on CPU.
# Prepares the data from the mirror, loads the shipped English teacher (no training), distills the OPTICAL
# and vanilla-KD students from bitext, reranks BM25 candidates for the native questions and
# prints the results table (also written to results/demo/). Rerunning reuses everything cached.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPTICAL_RERANK_CACHE="${OPTICAL_RERANK_CACHE:-$PWD/.cache}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m optical_rerank.experiment "${1:-configs/demo.yaml}"
