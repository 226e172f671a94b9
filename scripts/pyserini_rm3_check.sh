#!/usr/bin/env bash
# DL19: BM25 and RM3 runs through optical_rerank.run and through Pyserini's own
# `python -m pyserini.search.lucene` (plain, thanks to the venv's import hook), over one index built by
# `python -m pyserini.index.lucene` from the prepared DL19 passages; writes results/pyserini/dl19_check.json
# (how many run lines differ). Usage: bash scripts/pyserini_rm3_check.sh [WORKDIR] (default work/pyserini-check).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
PY="${PY:-.venv/bin/python}"
W="${1:-work/pyserini-check}"
mkdir -p "$W" results/pyserini
[ -f "$W/dl19/card.json" ] || "$PY" -m optical_rerank.data prepare dl19 --out "$W/dl19"
if [ ! -d "$W/idx" ]; then
  "$PY" -m pyserini.index.lucene --collection JsonCollection --input "$W/dl19/corpus/passages" --index "$W/idx" \
    --generator DefaultLuceneDocumentGenerator --threads 2 --storePositions --storeDocvectors --storeRaw
fi
T="$W/dl19/topics/dl19.tsv"
"$PY" -m pyserini.search.lucene --index "$W/idx" --topics "$T" --output "$W/pyserini.bm25.txt" --bm25 --hits 100
"$PY" -m pyserini.search.lucene --index "$W/idx" --topics "$T" --output "$W/pyserini.rm3.txt" --bm25 --rm3 --hits 100
common=(--topics "$T" --index "$W/idx" --hits 100 --tag Anserini --quiet)
"$PY" -m optical_rerank.run "${common[@]}" --output "$W/ours.bm25.txt"
"$PY" -m optical_rerank.run "${common[@]}" --rm3 --output "$W/ours.rm3.txt"
"$PY" -m optical_rerank.run "${common[@]}" --rm3 --rm3-keep-all-terms --output "$W/ours.rm3-keep-all.txt"
"$PY" - "$W" <<'PYEOF'
import json, sys
from pathlib import Path
from optical_rerank.files import sha256_file, write_json_atomic
w = Path(sys.argv[1])
def lines(p):
    # Pyserini writes the queries sorted by id, ours in the topics file's order: compare query by query
    # (a stable sort by qid keeps each ranking's order)
    return sorted((w / p).read_text(encoding="utf-8").splitlines(), key=lambda line: line.split()[0])
def differ(a, b):
    la, lb = lines(a), lines(b)
    n = max(len(la), len(lb))
    return {"ours": a, "pyserini": b, "lines": n, "lines_differing": sum(1 for i in range(n) if i >= len(la) or i >= len(lb) or la[i] != lb[i]),
            "sha256_ours": sha256_file(w / a), "sha256_pyserini": sha256_file(w / b)}
out = {"set": "dl19 (python -m optical_rerank.data prepare dl19: 43 judged topics, the candidate passages as the collection)",
       "command": "bash scripts/pyserini_rm3_check.sh",
       "compared": "run lines, query by query (Pyserini orders the queries by id, optical_rerank.run as the topics file)",
       "bm25": differ("ours.bm25.txt", "pyserini.bm25.txt"),
       "rm3": differ("ours.rm3.txt", "pyserini.rm3.txt"),
       "rm3_keep_all_terms_vs_pyserini_rm3": differ("ours.rm3-keep-all.txt", "pyserini.rm3.txt")}
write_json_atomic("results/pyserini/dl19_check.json", out)
print(json.dumps({k: v["lines_differing"] if isinstance(v, dict) else v for k, v in out.items()}, indent=1))
PYEOF
