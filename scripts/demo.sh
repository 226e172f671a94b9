#!/usr/bin/env bash
# README command 1's main job: the OPTICAL pipeline on real AfriQA data, offline, on CPU, nothing trained.
# Prepares the AfriQA data and its BM25 index from the mirror (cached under work/demo/), loads the shipped
# English teacher and the shipped OPTICAL student (LoRA adapters merged into the cache on first use),
# reranks the BM25 candidates of the native test questions and prints the results table (also written to
# results/demo/). Rerunning reuses everything cached; `configs/demo.yaml` sets the questions, depth and
# first stage (`candidates`).
set -euo pipefail
cd "$(dirname "$0")/.."
export OPTICAL_RERANK_CACHE="${OPTICAL_RERANK_CACHE:-$PWD/.cache}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY="${PYTHON:-.venv/bin/python}"
start=$(date +%s)
"$PY" -m optical_rerank.experiment "${1:-configs/demo.yaml}"   # prints the results tables
echo "demo: $(( $(date +%s) - start )) s"
