# The README's two commands are `make demo` (set up + main job) and `make test` (set up + tests).
SHELL := /bin/bash
PY := .venv/bin/python
export OPTICAL_RERANK_MIRROR ?= $(abspath ../shared/data/mirror)
export OPTICAL_RERANK_CACHE ?= $(abspath .cache)
export TOKENIZERS_PARALLELISM := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup test demo clean
setup:
	bash scripts/setup.sh

test: setup
	bash scripts/test.sh

demo: setup
	bash scripts/demo.sh

clean:
	rm -rf .venv .cache work
